/**
 * What a host has and what it runs, gathered by one read-only command (for dry-run and for the
 * checks before a deploy). The script is a literal; the deploy path, app name, the files it reads
 * (the state) and who may listen on each slot's port (as free_port judges it before a start, in
 * `check` mode) reach it as positional parameters, from the one layout in layout.ts.
 */
import type { Layout } from './layout.js'
import { parsePortUsers, PROCESS_FUNCTIONS, type PortUser } from './commands/processes.js'
import { script, type Shell } from './shell.js'
import { SLOTS, type Slot } from './state.js'

export const REQUIRED_TOOLS = ['tar', 'flock', 'sha256sum', 'setsid', 'nginx'] as const

export interface HostFacts {
  /** Tools from REQUIRED_TOOLS that `command -v` did not find. */
  missingTools: string[]
  /** The deploy path, or its nearest existing parent when it does not exist yet. */
  existingPath: string
  writable: boolean
  /**
   * Who listens on each slot's port, as the start of that slot would judge it (free_port in
   * `check` mode: the slot's own processes, the other slot's, a leftover, a stranger...).
   */
  portUsers: Record<Slot, PortUser[]>
  /** systemd runs the host (/run/systemd/system exists). */
  systemd: boolean
  /** The login user's uid. */
  uid: number | undefined
  /** The raw text of the state file (Layout.state), or undefined when there is none. */
  stateJson: string | undefined
}

const PROBE_SCRIPT = `${PROCESS_FUNCTIONS}
deploy=$1; app=$2; state=$3; blue_port=$4; green_port=$5; blue=$6; green=$7
# A non-root login's PATH often lacks the sbin directories where nginx lives.
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
for tool in ${REQUIRED_TOOLS.join(' ')}; do
  command -v "$tool" >/dev/null 2>&1 || echo "missing=$tool"
done
p=$deploy
while [ ! -e "$p" ]; do p=$(dirname "$p"); done
echo "existing=$p"
if [ -d "$p" ] && [ -w "$p" ]; then echo "writable=yes"; else echo "writable=no"; fi
echo "uid=$(id -u)"
[ ! -d /run/systemd/system ] || echo "systemd=yes"
echo "--- port blue"
free_port "$blue_port" check "$blue" "$green" "$deploy" "$app" blue "" 0
echo "--- port green"
free_port "$green_port" check "$green" "$blue" "$deploy" "$app" green "" 0
if [ -r "$state" ]; then
  echo "--- state"
  cat "$state"
fi
exit 0
`

/** How the slots of the host would be judged: the app, each slot's port and its processes. */
export interface ProbeSlots {
  app: string
  ports: Record<Slot, number>
  /** The slot manager's members(slot) for each slot. */
  members: Record<Slot, Shell>
}

export function probeCommand(l: Layout, slots: ProbeSlots): Shell {
  return script(
    PROBE_SCRIPT,
    l.root,
    slots.app,
    l.state,
    String(slots.ports.blue),
    String(slots.ports.green),
    slots.members.blue.text,
    slots.members.green.text,
  )
}

export function parseProbe(output: string): HostFacts {
  const facts: HostFacts = {
    missingTools: [],
    existingPath: '',
    writable: false,
    portUsers: { blue: [], green: [] },
    systemd: false,
    uid: undefined,
    stateJson: undefined,
  }
  const [head = '', afterPorts = ''] = output.split('\n--- port blue\n')
  const [ports = '', state] = afterPorts.split('\n--- state\n')
  const [blue = '', green = ''] = ports.split('--- port green\n')
  for (const line of head.split('\n')) {
    const [key = '', value = ''] = splitOnce(line, '=')
    if (key === 'missing') facts.missingTools.push(value)
    else if (key === 'existing') facts.existingPath = value
    else if (key === 'writable') facts.writable = value === 'yes'
    else if (key === 'systemd') facts.systemd = value === 'yes'
    else if (key === 'uid' && /^\d+$/.test(value)) facts.uid = Number(value)
  }
  for (const slot of SLOTS) facts.portUsers[slot] = parsePortUsers(slot === 'blue' ? blue : green)
  facts.stateJson = state
  return facts
}

function splitOnce(text: string, separator: string): [string, string] {
  const at = text.indexOf(separator)
  return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + 1)]
}
