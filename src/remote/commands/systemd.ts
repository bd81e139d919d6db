/**
 * Slots as systemd units (`process-manager: systemd`). One static template unit,
 * /etc/systemd/system/<app>@.service, runs `<deploy-path>/.deploy/run-<slot>.sh`: a script the
 * action writes at every start of a slot, holding the slot's variables (shell-quoted, which
 * systemd's EnvironmentFile= cannot read) and start-command. `<app>@blue` and `<app>@green` are
 * enabled and started, or disabled and stopped, together (`--now`), so after a reboot the host
 * runs the slots it ran before. systemctl's MainPID and ActiveState replace the pidfile; the
 * output goes to the journal (`journalctl -u <app>@<slot>`).
 */
import type { Layout } from '../layout.js'
import { isSlot, type ProcessId } from '../state.js'
import { quote, script } from '../shell.js'
import { PORT_IN_USE, unitMembers } from './processes.js'
import {
  freePortArgs,
  reloadScript,
  SLOT_EXITED,
  SLOT_FUNCTIONS,
  type ProcessEnv,
  type SlotManager,
  type SlotOptions,
} from './slot.js'

/** The units are `<app>@blue` and `<app>@green`; stop-timeout is their TimeoutStopSec. */
export interface SystemdOptions extends SlotOptions {
  /** The SSH login user; the app runs as this user (as the built-in manager runs it). */
  user: string
  /** `stop-command`, run by ExecStop; '' = systemd sends SIGTERM. */
  stopCommand: string
}

/**
 * The slots run as `<app>@<slot>` of the template `<app>@.service`; the workers as
 * `<app>-worker@<name>-<generation>` of `<app>-worker@.service`, whose stop timeout is
 * worker-stop-timeout.
 */
export type UnitKind = 'slot' | 'worker'

const WORKER_PREFIX = 'worker-'
const kindOf = (id: ProcessId): UnitKind => (isSlot(id) ? 'slot' : 'worker')
const template = (app: string, kind: UnitKind): string =>
  kind === 'slot' ? `${app}@` : `${app}-worker@`

export const unitName = (app: string, id: ProcessId): string =>
  isSlot(id) ? `${app}@${id}` : `${app}-worker@${id.slice(WORKER_PREFIX.length)}`
export const unitFilePath = (app: string, kind: UnitKind = 'slot'): string =>
  `/etc/systemd/system/${template(app, kind)}.service`
/** The unit as the action rendered it last, next to the state (the source of the install). */
export const stagedUnitPath = (l: Layout, app: string, kind: UnitKind = 'slot'): string =>
  `${l.meta}/${template(app, kind)}.service`
export const runScriptPath = (l: Layout, id: ProcessId): string => `${l.meta}/run-${id}.sh`

/** Text inside a double-quoted word of a unit file: systemd's escapes for \, ", % and $. */
function unitText(text: string): string {
  return text.replace(/[\\"]/g, '\\$&').replaceAll('%', '%%').replaceAll('$', '$$$$')
}

/**
 * The template unit `<app>@.service` (`%i` is the slot), or `<app>-worker@.service` (`%i` is
 * `<name>-<generation>`).
 */
export function renderUnit(l: Layout, o: SystemdOptions, kind: UnitKind = 'slot'): string {
  const prefix = kind === 'slot' ? '' : WORKER_PREFIX
  const run = `"${unitText(l.meta)}/run-${prefix}%i.sh"`
  return `# Written by ssh-zero-downtime-deploy; a deploy rewrites it when it differs.
[Unit]
Description=${o.app} %i ${kind} (ssh-zero-downtime-deploy)
After=network.target

[Service]
# exec: \`systemctl start\` fails when the script cannot be run at all.
Type=exec
${o.user === 'root' ? '' : `User=${o.user}\n`}ExecStart=/bin/sh ${run} start
ExecStop=/bin/sh ${run} stop
SyslogIdentifier=${o.app}-${prefix}%i
# control-group: after ExecStop (stop-command, if any), SIGTERM goes to every process of the
# slot at once, as the built-in manager sends it to the slot's process group; whatever still
# runs TimeoutStopSec (stop-timeout) after the stop began gets SIGKILL.
KillMode=control-group
TimeoutStopSec=${o.stopTimeoutSeconds}
# on-failure: a crash after the deploy is restarted by systemd. While a deploy waits for the
# new slot to become healthy, any restart counts as a failed boot, so a broken release still
# fails at once with the journal's last lines.
Restart=on-failure
RestartSec=1

[Install]
WantedBy=multi-user.target
`
}

/**
 * The script a slot's (or worker's) unit runs: shared/.env, then its variables (which win), then
 * `start` execs the start command from `workdir`; `stop` runs the stop command from the release
 * dir and waits for the app to exit (systemd bounds the wait by TimeoutStopSec, then signals the
 * rest).
 */
export function renderRunScript(
  l: Layout,
  app: string,
  id: ProcessId,
  startCommand: string,
  stopCommand: string,
  env: ProcessEnv,
  workdir = env.RELEASE_DIR,
): string {
  const exports = Object.entries(env).map(([key, value]) => `export ${key}=${quote(value)}`)
  const stop = stopCommand
    ? `cd "$RELEASE_DIR" || exit 1
    sh -c ${quote(stopCommand)} || { echo 'stop-command failed; systemd sends SIGTERM' >&2; exit 1; }
    while kill -0 "$MAINPID" 2>/dev/null; do sleep 0.1; done`
    : ': # no stop-command: systemd sends SIGTERM'
  return `#!/bin/sh
# The ${isSlot(id) ? `${id} slot` : id} of ${app} (systemd unit ${unitName(app, id)}). Written by ssh-zero-downtime-deploy
# at every start; do not edit.
# shellcheck source=/dev/null # shared/.env: the app's variables
if [ -f ${quote(l.sharedEnv)} ]; then set -a; . ${quote(l.sharedEnv)}; set +a; fi
${exports.join('\n')}
case "$1" in
  start)
    cd ${quote(workdir)} || exit 1
    exec sh -c ${quote(startCommand)}
    ;;
  stop)
    ${stop}
    ;;
esac
`
}

/** Fails with a message that says why when the host does not run systemd. */
const REQUIRE_SYSTEMD = `[ -d /run/systemd/system ] || {
  echo "process-manager is systemd, but systemd is not running on this host (no /run/systemd/system); use process-manager: builtin" >&2
  exit 1
}`

/** The slots (or workers) of one host as systemd units. */
export function systemdSlots(l: Layout, o: SystemdOptions): SlotManager {
  const systemctl = o.sudo ? 'sudo -n systemctl' : 'systemctl'
  const unit = (id: ProcessId) => unitName(o.app, id)
  return {
    /**
     * Stops what still runs in the slot (a unit left by a cancelled run, or a process the
     * built-in manager started before the switch to systemd), frees a slot's port (free_port, as
     * the built-in manager does), installs the template unit when it differs (then
     * daemon-reload), writes the run script, enables and starts the unit. Prints the unit's
     * MainPID last.
     */
    start: (id, startCommand, env, workdir) =>
      script(
        `${SLOT_FUNCTIONS}
${REQUIRE_SYSTEMD}
pidfile=$1; timeout=$2; unit=$3; unitfile=$4; staged=$5; unittext=$6; run=$7; runtext=$8
shift 8
stop_slot "$pidfile" "$timeout" "" || exit 1
if [ "$(cat "$unitfile" 2>/dev/null)" != "$unittext" ]; then
  printf '%s\\n' "$unittext" > "$staged" || exit 1
  ${o.sudo ? 'sudo -n ' : ''}install -m 0644 "$staged" "$unitfile" || exit 1
  ${systemctl} daemon-reload || exit 1
fi
${systemctl} disable --now --quiet "$unit" || exit 1
[ $# -eq 0 ] || free_port "$@" || exit ${PORT_IN_USE}
(umask 077 && printf '%s\\n' "$runtext" > "$run.tmp") && mv -f "$run.tmp" "$run" || exit 1
${systemctl} enable --now --quiet "$unit" || exit 1
systemctl show --property MainPID --value "$unit"`,
        l.pidfile(id),
        String(o.stopTimeoutSeconds),
        unit(id),
        unitFilePath(o.app, kindOf(id)),
        stagedUnitPath(l, o.app, kindOf(id)),
        renderUnit(l, o, kindOf(id)).trimEnd(),
        runScriptPath(l, id),
        renderRunScript(l, o.app, id, startCommand, o.stopCommand, env, workdir).trimEnd(),
        ...freePortArgs(id, env, o, (slot) => unitMembers(unit(slot))),
      ),
    /** Disables and stops the unit (systemd runs ExecStop, then SIGTERM, SIGKILL). */
    stop: (id) =>
      script(
        `${SLOT_FUNCTIONS}
pidfile=$1; timeout=$2; unit=$3; unitfile=$4
stop_slot "$pidfile" "$timeout" "" || exit 1
[ -d /run/systemd/system ] && [ -f "$unitfile" ] || exit 0
${systemctl} disable --now --quiet "$unit"`,
        l.pidfile(id),
        String(o.stopTimeoutSeconds),
        unit(id),
        unitFilePath(o.app, kindOf(id)),
      ),
    reload: (slot, command, env) => reloadScript(unitMembers(unit(slot)), l, command, env),
    members: (id) => unitMembers(unit(id)),
    /**
     * Alive = ActiveState active (and, while booting, no automatic restart yet); else the unit's
     * state and the journal's last lines since the slot was started, and exit SLOT_EXITED.
     */
    checkAlive: (id, booting = false) =>
      script(
        `unit=$1; lines=$2; booting=$3
while IFS='=' read -r key value; do
  case $key in
    ActiveState) state=$value ;;
    SubState) sub=$value ;;
    NRestarts) restarts=$value ;;
    InactiveExitTimestamp) since=$value ;;
  esac
done <<EOF
$(systemctl show --property ActiveState,SubState,NRestarts,InactiveExitTimestamp "$unit")
EOF
if [ "$state" = active ] && { [ "$booting" = no ] || [ "\${restarts:-0}" = 0 ]; }; then exit 0; fi
echo "($unit: \${state:-unknown} \${sub:-}, \${restarts:-0} automatic restart(s))"
if [ -n "$since" ]; then set -- --since "$since"; else set --; fi
journalctl --unit "$unit" "$@" --lines "$lines" --no-pager --output short-iso 2>&1
exit ${SLOT_EXITED}`,
        unit(id),
        '30',
        booting ? 'yes' : 'no',
      ),
    logName: (id) => `the journal (journalctl -u ${unit(id)})`,
    /** NRestarts: systemd's automatic restarts since the unit was last started. */
    restarts: (id) =>
      script(
        `[ -d /run/systemd/system ] || exit 0
n=$(systemctl show --property NRestarts --value "$1" 2>/dev/null)
[ "\${n:-0}" = 0 ] || echo "$n"
exit 0`,
        unit(id),
      ),
  }
}
