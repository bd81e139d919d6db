/**
 * Slot processes (built-in process manager): started detached in their own session (setsid) with
 * a pidfile and a log file, so the SSH call returns at once; stopped as a whole process group.
 */
import type { Layout } from '../layout.js'
import type { Slot } from '../state.js'
import { script, type Shell } from '../shell.js'

/**
 * `alive PID`: the process exists and is not a zombie (a host whose pid 1 does not reap orphans
 * keeps dead slots as zombies, which `kill -0` still reports as running).
 */
const ALIVE_FN = `alive() {
  kill -0 "$1" 2>/dev/null || return 1
  case "$(cat "/proc/$1/stat" 2>/dev/null)" in *") Z "*) return 1 ;; esac
  return 0
}`

/** Variables every slot gets, besides shared/.env. */
export interface SlotEnv {
  PORT: string
  SLOT: Slot
  APP_VERSION: string
  RELEASE_DIR: string
  DEPLOY_PATH: string
  RELEASE_NODE: string
}

/**
 * Stops whatever still runs in the slot (a leftover of a cancelled run), then starts the command
 * from the release dir with shared/.env and the slot variables. Prints the new pid.
 */
export function startSlot(
  l: Layout,
  slot: Slot,
  startCommand: string,
  env: SlotEnv,
  stopTimeoutSeconds: number,
): Shell {
  return script(
    `${ALIVE_FN}
${STOP_BODY}
cd "$release" || { echo "release dir $release is missing" >&2; exit 1; }
if [ -f "$envfile" ]; then set -a; . "$envfile"; set +a; fi
for kv in "$@"; do export "$kv"; done
printf '%s === starting %s on port %s: %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$APP_VERSION" "$PORT" "$command" >> "$log"
setsid sh -c "$command" >> "$log" 2>&1 < /dev/null &
echo $! > "$pidfile"
echo $!`,
    l.pidfile(slot),
    String(stopTimeoutSeconds),
    '',
    env.RELEASE_DIR,
    l.slotLog(slot),
    l.sharedEnv,
    startCommand,
    ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
  )
}

/**
 * Stop sequence shared by start (clearing the slot) and stop: `stop-command` if given, else
 * SIGTERM to the slot's process group; SIGKILL after the timeout. $1 pidfile, $2 timeout seconds,
 * $3 stop command ('' = signals), $4 release dir (where the stop command runs).
 */
const STOP_BODY = `pidfile=$1; timeout=$2; stopcmd=$3; release=$4
shift 4
if [ $# -gt 0 ]; then log=$1; envfile=$2; command=$3; shift 3; fi
if [ -f "$pidfile" ]; then
  pid=$(cat "$pidfile")
  if alive "$pid"; then
    if [ -n "$stopcmd" ]; then
      (cd "$release" 2>/dev/null; sh -c "$stopcmd") || echo "stop-command failed; sending SIGTERM" >&2
    fi
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    i=0
    while alive "$pid" && [ "$i" -lt $((timeout * 10)) ]; do sleep 0.1; i=$((i + 1)); done
    if alive "$pid"; then
      echo "slot did not stop within \${timeout}s: SIGKILL" >&2
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
fi`

/** Stops a slot; a slot that is not running is fine. */
export function stopSlot(
  l: Layout,
  slot: Slot,
  stopCommand: string,
  releaseDir: string,
  stopTimeoutSeconds: number,
): Shell {
  return script(
    `${ALIVE_FN}
${STOP_BODY}`,
    l.pidfile(slot),
    String(stopTimeoutSeconds),
    stopCommand,
    releaseDir,
  )
}

/** Exits 0 while the slot's process runs; else prints the tail of its log and exits 3. */
export function checkSlotAlive(l: Layout, slot: Slot, logLines = 30): Shell {
  return script(
    `${ALIVE_FN}
if [ -f "$1" ] && alive "$(cat "$1")"; then exit 0; fi
tail -n "$3" "$2" 2>/dev/null
exit 3`,
    l.pidfile(slot),
    l.slotLog(slot),
    String(logLines),
  )
}

export const SLOT_EXITED = 3
