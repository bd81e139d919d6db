/**
 * What a host has and what it runs, gathered by one read-only command (for dry-run and for the
 * checks before a deploy). The script is a literal; the deploy path reaches it as $1, the app
 * name (with process-manager systemd, to ask for its units' pids) as $2, and the files it reads
 * (the slots' pidfiles, the state) as $3-$5, from the one layout in layout.ts.
 */
import type { Layout } from './layout.js'
import { script, type Shell } from './shell.js'

export const REQUIRED_TOOLS = ['tar', 'flock', 'sha256sum', 'setsid', 'nginx'] as const

export interface HostFacts {
  /** Tools from REQUIRED_TOOLS that `command -v` did not find. */
  missingTools: string[]
  /** The deploy path, or its nearest existing parent when it does not exist yet. */
  existingPath: string
  writable: boolean
  /** Pids of our slot processes that are alive, from their pidfiles or their systemd units. */
  slotPids: Partial<Record<'blue' | 'green', number>>
  /** Ports something listens on (TCP, IPv4 or IPv6, any address). */
  listeningPorts: Set<number>
  /** systemd runs the host (/run/systemd/system exists). */
  systemd: boolean
  /** The login user's uid. */
  uid: number | undefined
  /** The raw text of the state file (Layout.state), or undefined when there is none. */
  stateJson: string | undefined
}

const PROBE_SCRIPT = `
deploy=$1; app=$2; blue_pidfile=$3; green_pidfile=$4; state=$5
# A non-root login's PATH often lacks the sbin directories where nginx lives.
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin
for tool in ${REQUIRED_TOOLS.join(' ')}; do
  command -v "$tool" >/dev/null 2>&1 || echo "missing=$tool"
done
p=$deploy
while [ ! -e "$p" ]; do p=$(dirname "$p"); done
echo "existing=$p"
if [ -d "$p" ] && [ -w "$p" ]; then echo "writable=yes"; else echo "writable=no"; fi
for slot in blue green; do
  if [ "$slot" = blue ]; then f=$blue_pidfile; else f=$green_pidfile; fi
  if [ -r "$f" ]; then
    pid=$(cat "$f")
    kill -0 "$pid" 2>/dev/null && echo "pid.$slot=$pid"
  fi
done
echo "uid=$(id -u)"
if [ -d /run/systemd/system ]; then
  echo "systemd=yes"
  for slot in blue green; do
    [ -n "$app" ] || break
    pid=$(systemctl show --property MainPID --value "$app@$slot" 2>/dev/null)
    [ "\${pid:-0}" = 0 ] || echo "pid.$slot=$pid"
  done
fi
echo "--- tcp"
cat /proc/net/tcp /proc/net/tcp6 2>/dev/null
if [ -r "$state" ]; then
  echo "--- state"
  cat "$state"
fi
exit 0
`

/** `systemdApp`: the app name when its slots are systemd units, else ''. */
export function probeCommand(l: Layout, systemdApp = ''): Shell {
  return script(PROBE_SCRIPT, l.root, systemdApp, l.pidfile('blue'), l.pidfile('green'), l.state)
}

const TCP_LISTEN = '0A'

export function parseProbe(output: string): HostFacts {
  const facts: HostFacts = {
    missingTools: [],
    existingPath: '',
    writable: false,
    slotPids: {},
    listeningPorts: new Set(),
    systemd: false,
    uid: undefined,
    stateJson: undefined,
  }
  const [head = '', afterTcp = ''] = output.split('\n--- tcp\n')
  const [tcp = '', state] = afterTcp.split('\n--- state\n')
  for (const line of head.split('\n')) {
    const [key = '', value = ''] = splitOnce(line, '=')
    if (key === 'missing') facts.missingTools.push(value)
    else if (key === 'existing') facts.existingPath = value
    else if (key === 'writable') facts.writable = value === 'yes'
    else if (key === 'systemd') facts.systemd = value === 'yes'
    else if (key === 'uid' && /^\d+$/.test(value)) facts.uid = Number(value)
    else if (key === 'pid.blue' || key === 'pid.green')
      facts.slotPids[key.slice(4) as 'blue' | 'green'] = Number(value)
  }
  for (const line of tcp.split('\n')) {
    // "  0: 0100007F:0BB9 00000000:0000 0A ...": local address, remote address, state.
    const fields = line.trim().split(/\s+/)
    if (fields[3] !== TCP_LISTEN) continue
    const port = parseInt(fields[1]?.split(':')[1] ?? '', 16)
    if (Number.isInteger(port)) facts.listeningPorts.add(port)
  }
  facts.stateJson = state
  return facts
}

function splitOnce(text: string, separator: string): [string, string] {
  const at = text.indexOf(separator)
  return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + 1)]
}
