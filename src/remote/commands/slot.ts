/**
 * Slot processes (built-in process manager): each slot runs under a small supervisor (a sh loop,
 * `.deploy/supervise-<slot>.sh`) started detached (setsid) so the SSH call returns at once. The
 * supervisor starts the app in its own session, writes the app's pid to `.deploy/<slot>.pid` (the
 * leader of the slot's process group: every process of the slot is stopped through the group,
 * see processes.ts) and starts it again after an exit nobody asked for, with backoff; the action
 * stops the supervisor first, so a slot it stopped stays stopped. Before a slot starts, its port
 * must be free (free_port). The workers of a release (`worker-command`) run the same way, each
 * under its own supervisor, with no port. `.deploy/boot.sh` starts again, after a reboot, what
 * ran. `SlotManager` is what the deploy steps use, so systemd units (./systemd.ts) can stand in.
 */
import type { Layout } from '../layout.js'
import { isSlot, otherSlot, type ProcessId, type Slot } from '../state.js'
import { quote, script, type Shell } from '../shell.js'
import { builtinMembers, PORT_IN_USE, PROCESS_FUNCTIONS } from './processes.js'

/** Variables every command of a slot gets (start, stop, migrations), besides shared/.env. */
export interface SlotEnv {
  PORT: string
  SLOT: Slot
  APP_VERSION: string
  RELEASE_DIR: string
  DEPLOY_PATH: string
  RELEASE_NODE: string
}

/** Variables every command of a worker gets (start, stop), besides shared/.env: no PORT. */
export interface WorkerEnv {
  WORKER: string
  APP_VERSION: string
  RELEASE_DIR: string
  DEPLOY_PATH: string
  RELEASE_NODE: string
}

/** The variables of a slot or of a worker. */
export type ProcessEnv = SlotEnv | WorkerEnv

/**
 * How the slots (and workers) of one host are run: the commands that start, stop, reload and
 * watch them. `id` is a slot, or a worker (`worker-<name>-<generation>`), which has no port.
 */
export interface SlotManager {
  /**
   * Starts `startCommand` in `workdir` (default the release dir); a slot once its port is free.
   * Prints the new pid last.
   */
  start(id: ProcessId, startCommand: string, env: ProcessEnv, workdir?: string): Shell
  /** Stops it (`env` is its own, for the stop command); one that is not running is fine. */
  stop(id: ProcessId, stopCommand: string, env: ProcessEnv): Shell
  /**
   * Runs `reload-command` with SLOT_PID, the slot's server: the oldest of its processes that
   * listens on its port (the shell of a start command without `exec` is not it).
   */
  reload(slot: Slot, reloadCommand: string, env: SlotEnv): Shell
  /**
   * A call of a PROCESS_FUNCTIONS function that sets `pids` to its processes (its process
   * group, or its unit's cgroup): for the scripts that check who listens on a slot's port.
   */
  members(id: ProcessId): Shell
  /**
   * Exits 0 while it runs; else prints the tail of its log and exits SLOT_EXITED. `booting`: it
   * was just started, so a restart by the process manager also counts as a crash.
   */
  checkAlive(id: ProcessId, booting?: boolean): Shell
  /** Where its output goes, for messages: a file, or a journalctl command. */
  logName(id: ProcessId): string
  /**
   * Prints how often the process manager restarted it since the action started it:
   * `<count> [<when> <why>]`, or nothing (not running, or no restart).
   */
  restarts(id: ProcessId): Shell
}

/** The supervisor's pid (builtin); the app's pid stays in the pidfile. */
export const supervisorPidfile = (l: Layout, id: ProcessId): string =>
  `${l.meta}/${id}.supervisor.pid`
/** `<count> <when> <why>` of the last restart by the supervisor since it was started. */
export const restartsFile = (l: Layout, id: ProcessId): string => `${l.meta}/${id}.restarts`
/** The supervisor of a slot or worker, written at every start. */
export const superviseScriptPath = (l: Layout, id: ProcessId): string =>
  `${l.meta}/supervise-${id}.sh`
/** Starts the slots that ran before a reboot (README "After a reboot"). */
export const bootScriptPath = (l: Layout): string => `${l.meta}/boot.sh`

/** The first wait before a restart; it doubles after each quick exit, up to the maximum. */
export const RESTART_DELAY_SECONDS = 1
export const RESTART_DELAY_MAX_SECONDS = 30
/** An app that ran this long before it exited is restarted after the first delay again. */
export const RESTART_STABLE_SECONDS = 60

/** What the slot managers of a host need besides the layout. */
export interface SlotOptions {
  /** `app-name`: its systemd units are `<app>@blue` and `<app>@green`. */
  app: string
  /** systemctl goes through `sudo -n` (a login user that is not root). */
  sudo: boolean
  /**
   * SIGKILL for what still runs this long after a stop began: stop-timeout for the slots,
   * worker-stop-timeout for the workers (a manager of each is made with its own).
   */
  stopTimeoutSeconds: number
}

/** The built-in process manager (a supervisor, pidfile and log file per slot or worker). */
export function builtinSlots(l: Layout, o: SlotOptions): SlotManager {
  return {
    start: (id, command, env, workdir) => startSlot(l, id, command, env, o, workdir),
    stop: (id, command, env) => stopSlot(l, id, command, env, o.stopTimeoutSeconds),
    reload: (slot, command, env) => reloadScript(builtinMembers(l.pidfile(slot)), l, command, env),
    members: (id) => builtinMembers(l.pidfile(id)),
    checkAlive: (id, booting) => checkSlotAlive(l, id, 30, booting),
    logName: (id) => l.slotLog(id),
    restarts: (id) =>
      script(
        `${SLOT_FUNCTIONS}
[ -f "$1" ] && alive "$(cat "$1")" && cat "$2" 2>/dev/null
exit 0`,
        supervisorPidfile(l, id),
        restartsFile(l, id),
      ),
  }
}

/** `KEY=value` arguments for load_env: the slot (or worker) variables, then any extra ones. */
export function slotEnvArgs(env: ProcessEnv, extra: Record<string, string> = {}): string[] {
  return [...Object.entries(env), ...Object.entries(extra)].map(([key, value]) => `${key}=${value}`)
}

/**
 * Shell functions the slot scripts share: PROCESS_FUNCTIONS, and
 * `load_env FILE KEY=VALUE...`: shared/.env, then the slot variables (which win).
 * `stop_slot PIDFILE TIMEOUT STOPCMD`: first the slot's supervisor (`<slot>.supervisor.pid` next
 * to PIDFILE) with its group, so that it starts nothing again; then `stop-command` when given
 * (run in $RELEASE_DIR), else SIGTERM to the slot's process group; SIGKILL to the group after
 * TIMEOUT seconds. Done when no process of the group is left (a child the shell started, a
 * worker the server forked); fails naming what survives the SIGKILL.
 */
export const SLOT_FUNCTIONS = `${PROCESS_FUNCTIONS}
load_env() {
  # shellcheck source=/dev/null # shared/.env: the app's variables
  if [ -f "$1" ]; then set -a; . "$1"; set +a; fi
  shift
  # shellcheck disable=SC2163 # each argument is KEY=VALUE
  for kv in "$@"; do export "$kv"; done
}
stop_slot() {
  _slot=\${1##*/}; _slot=\${_slot%.pid}
  case $_slot in worker-*) _what="the $_slot process" ;; *) _what="the $_slot slot" ;; esac
  _sup="\${1%.pid}.supervisor.pid"
  if [ -s "$_sup" ] && since_boot "$_sup"; then
    read -r _g < "$_sup"
    stop_group "$_g" 5 "the supervisor of $_what" || return 1
  fi
  rm -f "$_sup"
  slot_pids "$1"
  if [ -n "$pids" ]; then
    read -r _g < "$1"
    _how=
    case $_slot in worker-*) main_pid "$_g"; WORKER_PID=$main; export WORKER_PID ;; esac
    if [ -n "$3" ]; then
      if (cd "$RELEASE_DIR" 2>/dev/null && sh -c "$3"); then _how=asked
      else echo "stop-command failed; sending SIGTERM" >&2; fi
    fi
    stop_group "$_g" "$2" "$_what" \${_how:+"$_how"} || return 1
  fi
  rm -f "$1"
}`

/** A slot log larger than this is moved to `<log>.1` when the slot starts next. */
export const LOG_ROTATE_BYTES = 10 * 1024 * 1024

/**
 * Stops whatever still runs in the slot or worker (a leftover of a cancelled run), frees a slot's
 * port (free_port: a leftover of this app is stopped and printed as `PORT stopped ...`; anything
 * else there fails with `PORT <kind> ...` lines and exit PORT_IN_USE), writes its supervisor (and
 * boot.sh), then starts the supervisor, which starts the command in `workdir` (the release dir;
 * `current` for the reload strategy, so the app server finds new code there when it reloads).
 * Prints the app's pid last, once the supervisor has written it.
 */
export function startSlot(
  l: Layout,
  id: ProcessId,
  startCommand: string,
  env: ProcessEnv,
  o: SlotOptions,
  workdir = env.RELEASE_DIR,
): Shell {
  return script(
    `${SLOT_FUNCTIONS}
pidfile=$1; timeout=$2; log=$3; workdir=$4; supervise=$5; supervisetext=$6; boot=$7; boottext=$8
restarts=$9
shift 9
stop_slot "$pidfile" "$timeout" "" || exit 1
[ $# -eq 0 ] || free_port "$@" || exit ${PORT_IN_USE}
[ -d "$workdir" ] || { echo "$workdir is missing" >&2; exit 1; }
rm -f "$pidfile" "$restarts"
(umask 077 && printf '%s\\n' "$supervisetext" > "$supervise.tmp") && mv -f "$supervise.tmp" "$supervise" || exit 1
(umask 077 && printf '%s\\n' "$boottext" > "$boot.tmp") && mv -f "$boot.tmp" "$boot" || exit 1
# The slot's process is stopped: its log is rotated here, so it never grows past ~2 x 10 MiB.
if [ -f "$log" ] && [ "$(wc -c < "$log")" -gt ${LOG_ROTATE_BYTES} ]; then mv -f "$log" "$log.1"; fi
setsid sh "$supervise" >> "$log" 2>&1 < /dev/null &
i=0
while [ ! -s "$pidfile" ] && [ "$i" -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
cat "$pidfile" 2>/dev/null || { echo "the supervisor did not start the app; see $log" >&2; exit 1; }`,
    l.pidfile(id),
    String(o.stopTimeoutSeconds),
    l.slotLog(id),
    workdir,
    superviseScriptPath(l, id),
    renderSuperviseScript(l, id, startCommand, env, o.stopTimeoutSeconds, workdir).trimEnd(),
    bootScriptPath(l),
    renderBootScript(l).trimEnd(),
    restartsFile(l, id),
    ...freePortArgs(id, env, o, (slot) => builtinMembers(l.pidfile(slot))),
  )
}

/**
 * The arguments of free_port in `stop` mode for the start of a slot: its port, its own processes
 * and the other slot's (live or warm: never stopped, `members` of each), and what tells a
 * leftover of this app. None for a worker, which has no port.
 */
export function freePortArgs(
  id: ProcessId,
  env: ProcessEnv,
  o: SlotOptions,
  members: (slot: Slot) => Shell,
): string[] {
  if (!isSlot(id) || !('PORT' in env)) return []
  return [
    env.PORT,
    'stop',
    members(id).text,
    members(otherSlot(id)).text,
    env.DEPLOY_PATH,
    o.app,
    id,
    o.sudo ? 'sudo -n systemctl' : 'systemctl',
    String(o.stopTimeoutSeconds),
  ]
}

/**
 * The supervisor of a slot (or worker): shared/.env, then its variables (which win); then, from
 * `workdir` (entered at each start: a slot that runs from `current` restarts in the release it
 * names then), the start command in its own session (its pid in the pidfile), and again after
 * every exit, RESTART_DELAY_SECONDS later, doubling after each quick exit up to
 * RESTART_DELAY_MAX_SECONDS. Each exit goes to the slot log and `<slot>.restarts`. What the app's
 * shell leaves running when it exits (a server below a start command without `exec`, holding the
 * port) is stopped with its group before the next start. The action stops the supervisor before
 * the app (stop_slot), and a supervisor whose pidfile names another process (the slot was started
 * anew) starts nothing again.
 */
export function renderSuperviseScript(
  l: Layout,
  id: ProcessId,
  startCommand: string,
  env: ProcessEnv,
  stopTimeoutSeconds: number,
  workdir = env.RELEASE_DIR,
): string {
  const exports = Object.entries(env).map(([key, value]) => `export ${key}=${quote(value)}`)
  const what = isSlot(id) ? `the ${id} slot` : id
  const port = 'PORT' in env ? ` on port ${env.PORT}` : ''
  return `#!/bin/sh
# The supervisor of ${what} (process-manager builtin). Written by ssh-zero-downtime-deploy
# at every start; do not edit. Started by the deploy, and by boot.sh after a reboot.
${PROCESS_FUNCTIONS}
# shellcheck source=/dev/null # shared/.env: the app's variables
if [ -f ${quote(l.sharedEnv)} ]; then set -a; . ${quote(l.sharedEnv)}; set +a; fi
${exports.join('\n')}
_dzd_pidfile=${quote(l.pidfile(id))}
_dzd_self=${quote(supervisorPidfile(l, id))}
_dzd_restarts=${quote(restartsFile(l, id))}
_dzd_now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
echo $$ > "$_dzd_self"
_dzd_n=0
_dzd_delay=${RESTART_DELAY_SECONDS}
while :; do
  # At every start: a slot that runs from current (a reload) restarts in the release it names now.
  cd ${quote(workdir)} || exit 1
  printf '%s === starting %s%s: %s\\n' "$(_dzd_now)" "$APP_VERSION" ${quote(port)} ${quote(startCommand)}
  _dzd_started=$(date +%s)
  setsid sh -c ${quote(startCommand)} < /dev/null &
  _dzd_app=$!
  echo "$_dzd_app" > "$_dzd_pidfile.tmp" && mv -f "$_dzd_pidfile.tmp" "$_dzd_pidfile"
  wait "$_dzd_app"
  _dzd_status=$?
  # Stopped by the action, or the slot was started anew: nothing to restart.
  [ "$(cat "$_dzd_self" 2>/dev/null)" = $$ ] || exit 0
  stop_group "$_dzd_app" ${stopTimeoutSeconds} "what the app (pid $_dzd_app) left running"
  if [ "$_dzd_status" -gt 128 ]; then
    _dzd_why="was killed by signal $(kill -l $((_dzd_status - 128)) 2>/dev/null || echo $((_dzd_status - 128)))"
  else
    _dzd_why="exited with status $_dzd_status"
  fi
  [ $(($(date +%s) - _dzd_started)) -lt ${RESTART_STABLE_SECONDS} ] || _dzd_delay=${RESTART_DELAY_SECONDS}
  _dzd_n=$((_dzd_n + 1))
  printf '%s === the app (pid %s) %s; restart %s in %s s\\n' "$(_dzd_now)" "$_dzd_app" "$_dzd_why" "$_dzd_n" "$_dzd_delay"
  echo "$_dzd_n $(_dzd_now) $_dzd_why" > "$_dzd_restarts"
  sleep "$_dzd_delay"
  _dzd_delay=$((_dzd_delay * 2))
  [ "$_dzd_delay" -le ${RESTART_DELAY_MAX_SECONDS} ] || _dzd_delay=${RESTART_DELAY_MAX_SECONDS}
done
`
}

/**
 * `.deploy/boot.sh`: starts the supervisor of every slot (and worker) that ran when the host went
 * down (its pidfile is there: the action removes it when it stops one) and whose supervisor and
 * app are not running. Run at boot from the deploy user's crontab: \`@reboot /bin/sh <deploy-path>/.deploy/boot.sh\`.
 */
export function renderBootScript(l: Layout): string {
  return `#!/bin/sh
# Starts the slots and workers that ran when the host went down (process-manager builtin); one the
# action stopped stays stopped. Run it at boot, e.g. from the deploy user's crontab:
#   @reboot /bin/sh ${quote(bootScriptPath(l))}
# Written by ssh-zero-downtime-deploy; do not edit.
${SLOT_FUNCTIONS}
meta=${quote(l.meta)}
logs=${quote(l.logs)}
booted=$(($(date +%s) - $(cut -d. -f1 /proc/uptime)))
for supervise in "$meta"/supervise-*.sh; do
  slot=\${supervise##*/supervise-}; slot=\${slot%.sh}; pidfile="$meta/$slot.pid"
  { [ -f "$pidfile" ] && [ -f "$supervise" ]; } || continue
  pid=$(cat "$meta/$slot.supervisor.pid" 2>/dev/null)
  if [ -n "$pid" ] && alive "$pid" && tr '\\0' ' ' < "/proc/$pid/cmdline" | grep -q "supervise-$slot.sh"; then
    continue
  fi
  # Since this boot, the app runs without its supervisor: leave it, the next deploy replaces it.
  if [ "$(stat -c %Y "$pidfile")" -ge "$booted" ] && alive "$(cat "$pidfile")"; then
    echo "$slot: the app (pid $(cat "$pidfile")) runs without its supervisor; left as it is" >&2
    continue
  fi
  mkdir -p "$logs"
  case $slot in worker-*) what=$slot ;; *) what="the $slot slot" ;; esac
  printf '%s === boot.sh: starting %s again\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$what" >> "$logs/$slot.log"
  setsid sh "$supervise" >> "$logs/$slot.log" 2>&1 < /dev/null &
  echo "$slot: started"
done
`
}

/**
 * Runs `reload-command` for the slot (strategy reload), from its release dir with the slot
 * variables and SLOT_PID: the slot's server, the oldest of its processes (`members`, see
 * SlotManager.members) that listens on its port, which the reload signal must reach (not the
 * shell above a start command without `exec`).
 */
export function reloadScript(
  members: Shell,
  l: Layout,
  reloadCommand: string,
  env: SlotEnv,
): Shell {
  return script(
    `${SLOT_FUNCTIONS}
members=$1; envfile=$2; command=$3
shift 3
load_env "$envfile" "$@"
eval "$members"
server_pid "$PORT"
[ -n "$server" ] || { echo "no process of the $SLOT slot listens on port $PORT" >&2; exit 1; }
SLOT_PID=$server
export SLOT_PID
cd "$RELEASE_DIR" || exit 1
exec sh -c "$command"`,
    members.text,
    l.sharedEnv,
    reloadCommand,
    ...slotEnvArgs(env),
  )
}

/**
 * Stops a slot or worker (`env` is its own, for the stop command); one that is not running is
 * fine.
 */
export function stopSlot(
  l: Layout,
  id: ProcessId,
  stopCommand: string,
  env: ProcessEnv,
  stopTimeoutSeconds: number,
): Shell {
  return script(
    `${SLOT_FUNCTIONS}
pidfile=$1; timeout=$2; stopcmd=$3; envfile=$4
shift 4
load_env "$envfile" "$@"
stop_slot "$pidfile" "$timeout" "$stopcmd"`,
    l.pidfile(id),
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

/**
 * Exits 0 while the slot's (or worker's) app runs (and, `booting`, its supervisor has not
 * restarted it yet); else prints what the supervisor saw and the tail of the log, and exits 3.
 */
export function checkSlotAlive(l: Layout, id: ProcessId, logLines = 30, booting = false): Shell {
  return script(
    `${SLOT_FUNCTIONS}
if [ -f "$1" ] && alive "$(cat "$1")" && { [ "$4" = no ] || [ ! -s "$5" ]; }; then exit 0; fi
if [ -s "$5" ]; then
  read -r count when why < "$5"
  echo "(restarted $count time(s) by its supervisor; last at $when: the app $why)"
fi
tail -n "$3" "$2" 2>/dev/null
exit 3`,
    l.pidfile(id),
    l.slotLog(id),
    String(logLines),
    booting ? 'yes' : 'no',
    restartsFile(l, id),
  )
}

export const SLOT_EXITED = 3
