/**
 * Slot processes (built-in process manager): started detached in their own session (setsid) with
 * a pidfile and a log file, so the SSH call returns at once; stopped as a whole process group.
 * `SlotManager` is what the deploy steps use, so systemd units (./systemd.ts) can stand in.
 */
import type { Layout } from '../layout.js'
import type { Slot } from '../state.js'
import { script, type Shell } from '../shell.js'

/** Variables every command of a slot gets (start, stop, migrations), besides shared/.env. */
export interface SlotEnv {
  PORT: string
  SLOT: Slot
  APP_VERSION: string
  RELEASE_DIR: string
  DEPLOY_PATH: string
  RELEASE_NODE: string
}

/** How the slots of one host are run: the commands that start, stop, reload and watch them. */
export interface SlotManager {
  /** Starts `startCommand` in `workdir` (default the release dir); prints the new pid. */
  start(slot: Slot, startCommand: string, env: SlotEnv, workdir?: string): Shell
  /** Stops the slot (`env` is the slot's, for stop-command); a slot that is not running is fine. */
  stop(slot: Slot, stopCommand: string, env: SlotEnv): Shell
  /** Runs `reload-command` with SLOT_PID, the pid of the slot's app server. */
  reload(slot: Slot, reloadCommand: string, env: SlotEnv): Shell
  /**
   * Exits 0 while the slot runs; else prints the tail of its log and exits SLOT_EXITED.
   * `booting`: the slot was just started, so a restart (systemd) also counts as a crash.
   */
  checkAlive(slot: Slot, booting?: boolean): Shell
  /** Where the slot's output goes, for messages: a file, or a journalctl command. */
  logName(slot: Slot): string
}

/** The built-in process manager (setsid, pidfile, log file per slot). */
export function builtinSlots(l: Layout, stopTimeoutSeconds: number): SlotManager {
  return {
    start: (slot, command, env, workdir) =>
      startSlot(l, slot, command, env, stopTimeoutSeconds, workdir),
    stop: (slot, command, env) => stopSlot(l, slot, command, env, stopTimeoutSeconds),
    reload: (slot, command, env) => reloadSlot(l, slot, command, env),
    checkAlive: (slot) => checkSlotAlive(l, slot),
    logName: (slot) => l.slotLog(slot),
  }
}

/** `KEY=value` arguments for load_env: the slot variables, then any extra ones. */
export function slotEnvArgs(env: SlotEnv, extra: Record<string, string> = {}): string[] {
  return [...Object.entries(env), ...Object.entries(extra)].map(([key, value]) => `${key}=${value}`)
}

/**
 * Shell functions the slot scripts share. `alive PID`: the process exists and is not a zombie (a
 * host whose pid 1 does not reap orphans keeps dead slots as zombies, which `kill -0` still
 * reports as running). `load_env FILE KEY=VALUE...`: shared/.env, then the slot variables (which
 * win). `stop_slot PIDFILE TIMEOUT STOPCMD`: `stop-command` when given (run in $RELEASE_DIR), else
 * SIGTERM to the slot's process group; SIGKILL after TIMEOUT seconds.
 */
export const SLOT_FUNCTIONS = `alive() {
  kill -0 "$1" 2>/dev/null || return 1
  case "$(cat "/proc/$1/stat" 2>/dev/null)" in *") Z "*) return 1 ;; esac
  return 0
}
load_env() {
  if [ -f "$1" ]; then set -a; . "$1"; set +a; fi
  shift
  for kv in "$@"; do export "$kv"; done
}
stop_slot() {
  [ -f "$1" ] || return 0
  pid=$(cat "$1")
  if alive "$pid"; then
    if [ -z "$3" ] || ! (cd "$RELEASE_DIR" 2>/dev/null && sh -c "$3"); then
      [ -z "$3" ] || echo "stop-command failed; sending SIGTERM" >&2
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    fi
    i=0
    while alive "$pid" && [ "$i" -lt $(($2 * 20)) ]; do sleep 0.05; i=$((i + 1)); done
    if alive "$pid"; then
      echo "slot did not stop within $2 s: SIGKILL" >&2
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$1"
}`

/** A slot log larger than this is moved to `<log>.1` when the slot starts next. */
export const LOG_ROTATE_BYTES = 10 * 1024 * 1024

/**
 * Stops whatever still runs in the slot (a leftover of a cancelled run), then starts the command
 * in `workdir` (the release dir; `current` for the reload strategy, so the app server finds new
 * code there when it reloads). Prints the new pid.
 */
export function startSlot(
  l: Layout,
  slot: Slot,
  startCommand: string,
  env: SlotEnv,
  stopTimeoutSeconds: number,
  workdir = env.RELEASE_DIR,
): Shell {
  return script(
    `${SLOT_FUNCTIONS}
pidfile=$1; timeout=$2; log=$3; envfile=$4; command=$5; workdir=$6
shift 6
stop_slot "$pidfile" "$timeout" ""
load_env "$envfile" "$@"
cd "$workdir" || { echo "$workdir is missing" >&2; exit 1; }
# The slot's process is stopped: its log is rotated here, so it never grows past ~2 x 10 MiB.
if [ -f "$log" ] && [ "$(wc -c < "$log")" -gt ${LOG_ROTATE_BYTES} ]; then mv -f "$log" "$log.1"; fi
printf '%s === starting %s on port %s: %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$APP_VERSION" "$PORT" "$command" >> "$log"
setsid sh -c "$command" >> "$log" 2>&1 < /dev/null &
echo $! > "$pidfile"
echo $!`,
    l.pidfile(slot),
    String(stopTimeoutSeconds),
    l.slotLog(slot),
    l.sharedEnv,
    startCommand,
    workdir,
    ...slotEnvArgs(env),
  )
}

/**
 * Runs `reload-command` for the slot (strategy reload), with the slot variables and SLOT_PID,
 * the pid of the running app server, to send it its reload signal.
 */
export function reloadSlot(l: Layout, slot: Slot, reloadCommand: string, env: SlotEnv): Shell {
  return reloadScript('cat "$source"', l.pidfile(slot), l, reloadCommand, env)
}

/**
 * @internal reload-command with the slot variables and SLOT_PID, which `pidOf` (a literal
 * command reading `$source`: a pidfile, a unit name) prints.
 */
export function reloadScript(
  pidOf: string,
  source: string,
  l: Layout,
  reloadCommand: string,
  env: SlotEnv,
): Shell {
  return script(
    `${SLOT_FUNCTIONS}
source=$1; envfile=$2; command=$3
shift 3
load_env "$envfile" "$@"
SLOT_PID=$(${pidOf}) && [ "\${SLOT_PID:-0}" != 0 ] || { echo "the slot is not running" >&2; exit 1; }
export SLOT_PID
cd "$RELEASE_DIR" || exit 1
exec sh -c "$command"`,
    source,
    l.sharedEnv,
    reloadCommand,
    ...slotEnvArgs(env),
  )
}

/** Stops a slot (`env` is the slot's, for stop-command); a slot that is not running is fine. */
export function stopSlot(
  l: Layout,
  slot: Slot,
  stopCommand: string,
  env: SlotEnv,
  stopTimeoutSeconds: number,
): Shell {
  return script(
    `${SLOT_FUNCTIONS}
pidfile=$1; timeout=$2; stopcmd=$3; envfile=$4
shift 4
load_env "$envfile" "$@"
stop_slot "$pidfile" "$timeout" "$stopcmd"`,
    l.pidfile(slot),
    String(stopTimeoutSeconds),
    stopCommand,
    l.sharedEnv,
    ...slotEnvArgs(env),
  )
}

/** Runs a one-off command (migrate, post-deploy) in the foreground from the release dir. */
export function runInRelease(
  l: Layout,
  command: string,
  env: SlotEnv,
  extra: Record<string, string> = {},
): Shell {
  return script(
    `${SLOT_FUNCTIONS}
envfile=$1; command=$2
shift 2
load_env "$envfile" "$@"
cd "$RELEASE_DIR" || exit 1
exec sh -c "$command"`,
    l.sharedEnv,
    command,
    ...slotEnvArgs(env, extra),
  )
}

/** Exits 0 while the slot's process runs; else prints the tail of its log and exits 3. */
export function checkSlotAlive(l: Layout, slot: Slot, logLines = 30): Shell {
  return script(
    `${SLOT_FUNCTIONS}
if [ -f "$1" ] && alive "$(cat "$1")"; then exit 0; fi
tail -n "$3" "$2" 2>/dev/null
exit 3`,
    l.pidfile(slot),
    l.slotLog(slot),
    String(logLines),
  )
}

export const SLOT_EXITED = 3
