import { existsSync, readFileSync } from 'node:fs'
import { randomInt } from 'node:crypto'
import { run, runSync, sleep, sleepSync } from './exec.js'

/** Interface and namespace names of a lab: all derived from its 6-hex-digit id (IFNAMSIZ is 16). */
export const names = (id: string) => ({
  bridge: `dzd${id}`,
  veth: (index: number) => `dzd${id}v${index}`,
  netns: (host: string) => `dzd-${id}-${host}`,
})

/** Ids of labs that own namespaces or links on this machine, parsed from their names. */
export function labIdsOnMachine(): string[] {
  const ids = [
    ...netnsList().map((ns) => /^dzd-([0-9a-f]{6})-/.exec(ns)?.[1]),
    ...linkList().map((link) => /^dzd([0-9a-f]{6})/.exec(link)?.[1]),
  ]
  return [...new Set(ids.filter((id): id is string => !!id))]
}

const ip = (...args: string[]) => run(['ip', ...args])
const netnsList = () => runSync(['ip', 'netns', 'list']).match(/^\S+/gm) ?? []
const linkList = () => runSync(['ip', '-o', 'link', 'show']).match(/(?<=^\d+: )[^:@\s]+/gm) ?? []
const toInt = (addr: string) => addr.split('.').reduce((n, o) => n * 256 + Number(o), 0)

/** Does an existing route (other than via `ownDev`) overlap 10.213.x.0/24? Broad (< /16) routes are shadowed, not conflicts. */
async function subnetTaken(x: number, ownDev?: string): Promise<boolean> {
  const { stdout } = await ip('-4', '-o', 'route', 'show', 'table', 'all')
  const ours = toInt(`10.213.${x}.0`)
  return stdout.split('\n').some((line) => {
    const words = line.trim().split(/\s+/)
    if (ownDev && words.some((w, i) => w === ownDev && words[i - 1] === 'dev')) return false
    const dst = /^[a-z]/.test(words[0]) ? words[1] : words[0] // skip the route type (local, ...)
    const m = /^(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?$/.exec(dst ?? '')
    if (!m) return false
    const len = Number(m[2] ?? 32)
    if (len < 16) return false
    const mask = (~0 << (32 - Math.min(len, 24))) >>> 0
    return (toInt(m[1]) & mask) >>> 0 === (ours & mask) >>> 0
  })
}

/**
 * Creates the lab bridge and claims a free 10.213.X.0/24 for it (bridge gets .1). Claiming is
 * optimistic: add the address, then back off if another interface got the same subnet meanwhile.
 */
export async function createBridge(bridge: string): Promise<string> {
  await ip('link', 'add', bridge, 'type', 'bridge')
  await ip('link', 'set', bridge, 'up')
  await allowBridgedForwarding(bridge)
  for (let attempt = 0; attempt < 64; attempt++) {
    const x = randomInt(1, 255)
    if (await subnetTaken(x)) continue
    await ip('addr', 'add', `10.213.${x}.1/24`, 'dev', bridge)
    if (!(await subnetTaken(x, bridge))) return `10.213.${x}`
    await ip('addr', 'del', `10.213.${x}.1/24`, 'dev', bridge)
  }
  throw new Error('test/hosts: found no free 10.213.X.0/24 subnet for the lab bridge')
}

/**
 * With br_netfilter loaded (bridge-nf-call-iptables=1, e.g. where Docker runs), bridged
 * host-to-host packets traverse iptables FORWARD, whose policy may be DROP: accept ours explicitly.
 */
async function allowBridgedForwarding(bridge: string): Promise<void> {
  const sysctl = '/proc/sys/net/bridge/bridge-nf-call-iptables'
  if (!existsSync(sysctl) || readFileSync(sysctl, 'utf8').trim() !== '1') return
  await run(['iptables', ...forwardRule('-I', bridge)], { allowFail: true }).catch(() => {})
}

const forwardRule = (op: '-I' | '-D', bridge: string) =>
  `${op} FORWARD -i ${bridge} -o ${bridge} -j ACCEPT`.split(' ')

/** Creates netns `netns` wired to the bridge by veth `veth` (eth0 inside) with `address`/24. */
export async function createHostNetwork(o: {
  netns: string
  veth: string
  bridge: string
  address: string
  unusedAddress: string
}): Promise<void> {
  await ip('netns', 'add', o.netns)
  await ip('link', 'add', o.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', o.netns)
  await ip('link', 'set', o.veth, 'master', o.bridge, 'up')
  const inNs = (...args: string[]) => ip('-n', o.netns, ...args)
  await inNs('addr', 'add', `${o.address}/24`, 'dev', 'eth0')
  await inNs('link', 'set', 'eth0', 'up')
  await inNs('link', 'set', 'lo', 'up')
  await blackhole(o.unusedAddress, 'eth0', o.netns)
}

/**
 * Makes connections to `address` hang (instead of failing fast with EHOSTUNREACH after ARP gives
 * up): a permanent neighbour entry to a MAC nobody has, so SYNs go out and vanish.
 */
export async function blackhole(address: string, dev: string, netns?: string): Promise<void> {
  const where = netns ? ['-n', netns] : []
  const entry = [address, 'lladdr', '02:00:00:00:de:ad', 'dev', dev, 'nud', 'permanent']
  await ip(...where, 'neigh', 'replace', ...entry)
}

/** SIGKILLs every process in `netns` until none is left (processes may fork while we kill). */
export async function killNetns(netns: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (killAll(netns) > 0) {
    if (Date.now() > deadline) throw new Error(`processes in netns ${netns} survive SIGKILL`)
    await sleep(20)
  }
}

function killAll(netns: string): number {
  const pids = runSync(['ip', 'netns', 'pids', netns]).match(/\d+/g) ?? []
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL')
    } catch {
      // already gone
    }
  }
  return pids.length
}

/** Removes everything of lab `id`: processes, namespaces, links, the iptables rule. Sync, idempotent, best-effort. */
export function teardownNetwork(id: string): void {
  const n = names(id)
  const ours = netnsList().filter((ns) => ns.startsWith(`dzd-${id}-`))
  for (let round = 0; round < 50 && ours.reduce((sum, ns) => sum + killAll(ns), 0) > 0; round++) {
    sleepSync(20)
  }
  for (const ns of ours) runSync(['ip', 'netns', 'del', ns])
  for (const link of linkList().filter((l) => l.startsWith(n.bridge))) {
    runSync(['ip', 'link', 'del', link])
  }
  if (existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) {
    runSync(['iptables', ...forwardRule('-D', n.bridge)])
  }
}
