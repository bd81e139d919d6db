/**
 * One check, shared by the fault-injection suite and the soak, that a host is in one consistent
 * state after a run, whatever happened during it: nginx serves one version, and state.json,
 * `current`, the upstream file and the running slots all name that version and its slot; the
 * deploy lock is free; no half-extracted release or upload is left behind.
 */
import { servedVersion } from './deploy-fixture.js'
import { quoteArgv } from './hosts/exec.js'
import type { LabHost } from './hosts/index.js'

export interface ConsistencyOptions {
  /** Default 'shop'. */
  app?: string
  /** Default /srv/<app>. */
  deployPath?: string
  /** Default 3001 / 3002, the action's defaults. */
  ports?: SlotPorts
  /** Requests through the host's nginx that must all answer the version. Default 5. */
  requests?: number
}

type SlotPorts = { blue: number; green: number }

interface SlotFacts {
  pidfile: string
  alive: boolean
  listening: boolean
}

interface HostFacts {
  state: string
  current: string
  upstream: string
  lockFree: boolean
  leftovers: string
  slots: Record<'blue' | 'green', SlotFacts>
}

/** Reads everything the check needs in one round trip (inside the host, not over SSH). */
async function readFacts(host: LabHost, app: string, root: string, ports: SlotPorts) {
  const vars = quoteArgv([
    `root=${root}`,
    `upstream=/etc/nginx/conf.d/${app}.upstream.conf`,
    `port_blue=${ports.blue}`,
    `port_green=${ports.green}`,
  ])
  const { stdout } = await host.sh(`${vars}
section() { printf '\\n@@%s\\n' "$1"; }
section state; cat "$root/.deploy/state.json" 2>/dev/null
section current; readlink "$root/current" 2>/dev/null
section upstream; cat "$upstream" 2>/dev/null
section lock; if flock -n "$root/.deploy/lock" true; then echo free; else echo held; fi
section leftovers
ls -A1 "$root/releases" 2>/dev/null | grep '\\.tmp\\.' || true
ls -1 "$root/.deploy/incoming" 2>/dev/null || true
for slot in blue green; do
  if [ "$slot" = blue ]; then port=$port_blue; else port=$port_green; fi
  section "$slot"
  pid=$(cat "$root/.deploy/$slot.pid" 2>/dev/null)
  echo "$pid"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo alive; else echo dead; fi
  if [ "$(ss -Hltn "sport = :$port" | wc -l)" != 0 ]; then echo listening; else echo idle; fi
done`)
  return parseFacts(stdout)
}

function parseFacts(text: string): HostFacts {
  const sections: Record<string, string> = {}
  for (const part of text.split('\n@@').slice(1)) {
    const [name = '', ...rest] = part.split('\n')
    sections[name] = rest.join('\n').trimEnd()
  }
  const slot = (name: string): SlotFacts => {
    const [pidfile = '', alive = '', listening = ''] = (sections[name] ?? '').split('\n')
    return { pidfile, alive: alive === 'alive', listening: listening === 'listening' }
  }
  return {
    state: sections.state ?? '',
    current: sections.current ?? '',
    upstream: sections.upstream ?? '',
    lockFree: sections.lock === 'free',
    leftovers: sections.leftovers ?? '',
    slots: { blue: slot('blue'), green: slot('green') },
  }
}

interface StateJson {
  liveSlot: 'blue' | 'green' | null
  slots: Record<'blue' | 'green', { version: string; pid: number | null } | null>
  history: { version: string; slot: string }[]
}

/**
 * Everything that is inconsistent on `host`, given that it should serve `version`; [] when the
 * host is in one consistent state. Problems are short sentences, for `expect(...).toEqual([])`.
 */
export async function consistencyProblems(
  host: LabHost,
  version: string,
  opts: ConsistencyOptions = {},
): Promise<string[]> {
  const app = opts.app ?? 'shop'
  const root = opts.deployPath ?? `/srv/${app}`
  const ports = opts.ports ?? { blue: 3001, green: 3002 }
  const problems: string[] = []
  const problem = (text: string) => problems.push(`${host.name}: ${text}`)

  const served = await Promise.all(
    Array.from({ length: opts.requests ?? 5 }, () => servedVersion(host)),
  )
  if (served.some((v) => v !== version)) problem(`nginx served ${served.join(', ')}`)

  const facts = await readFacts(host, app, root, ports)
  let state: StateJson
  try {
    state = JSON.parse(facts.state) as StateJson
  } catch {
    problem(`state.json is not JSON: ${JSON.stringify(facts.state.slice(0, 200))}`)
    return problems
  }
  const live = state.liveSlot
  if (live === null) return [...problems, `${host.name}: state.json has no live slot`]
  const idle = live === 'blue' ? 'green' : 'blue'
  if (state.slots[live]?.version !== version) {
    problem(`state.json: live slot ${live} runs ${state.slots[live]?.version}`)
  }
  if (state.history[0]?.version !== version || state.history[0]?.slot !== live) {
    problem(`state.json: newest history entry is ${JSON.stringify(state.history[0])}`)
  }
  const versions = state.history.map((r) => r.version)
  if (new Set(versions).size !== versions.length) problem(`history repeats: ${versions}`)
  if (facts.current !== `releases/${version}`) problem(`current -> ${facts.current || 'missing'}`)
  if (!facts.upstream.includes(`server 127.0.0.1:${ports[live]} `)) {
    problem(`upstream file does not point at ${live} (${ports[live]})`)
  }
  if (!facts.upstream.includes(`default ${live};`)) problem(`upstream file names another slot`)

  const liveSlot = facts.slots[live]
  if (!liveSlot.alive || !liveSlot.listening) problem(`live ${live} slot is not running`)
  if (String(state.slots[live]?.pid) !== liveSlot.pidfile) {
    problem(`live ${live} pid: state.json ${state.slots[live]?.pid}, pidfile ${liveSlot.pidfile}`)
  }
  const idleSlot = facts.slots[idle]
  const warm = state.slots[idle]?.pid ?? null
  if (warm === null && (idleSlot.alive || idleSlot.listening || idleSlot.pidfile !== '')) {
    problem(`idle ${idle} slot runs (pid ${idleSlot.pidfile}) but state.json has it stopped`)
  }
  if (warm !== null && (String(warm) !== idleSlot.pidfile || !idleSlot.alive)) {
    problem(`warm ${idle} slot: state.json pid ${warm}, pidfile ${idleSlot.pidfile}`)
  }
  if (!facts.lockFree) problem('the deploy lock is held')
  if (facts.leftovers !== '') problem(`leftovers: ${facts.leftovers.replaceAll('\n', ', ')}`)
  return problems
}
