/**
 * Throwaway "hosts" for integration tests: each host is a network namespace plus a private mount
 * namespace (own /srv, /etc/nginx, nginx logs and state) running its own sshd and nginx. A lab's
 * hosts share one Linux bridge in the root namespace on a free 10.213.X.0/24 (bridge .1, hosts
 * .10, .11, ...), so they reach each other and the test process reaches them. Needs root.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  appendFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { labIdsWithCgroups, removeHostCgroups } from './cgroup.js'
import { onProcessExit } from './cleanup.js'
import { startDelayProxy, type DelayProxy } from './delay-proxy.js'
import { Host, prepareHost, type LabHost } from './host.js'
import {
  hashKnownHosts,
  keygen,
  makeClientKey,
  type ClientKey,
  type KeyOptions,
  type KeyType,
} from './keys.js'
import {
  blackhole,
  createBridge,
  createHostNetwork,
  labIdsOnMachine,
  names,
  teardownNetwork,
} from './net.js'
import { ensurePackages, missingPackages, type PackageOptions } from './packages.js'
import { waitFor } from '../wait.js'

export { ensurePackages, hashKnownHosts, makeClientKey, missingPackages }
export type { ClientKey, KeyOptions, KeyType, LabHost }
export type { RunResult } from './exec.js'
export type { ShOptions } from './host.js'
export { startDelayProxy, type DelayProxy, type DelayProxyOptions } from './delay-proxy.js'

export interface Lab {
  /** 6 hex digits; all of the lab's names (netns dzd-<id>-hostN, links dzd<id>*) derive from it. */
  id: string
  hosts: LabHost[]
  /** e.g. '10.213.57.0/24' */
  subnet: string
  /** Address of the bridge (the test process's side), e.g. '10.213.57.1'. */
  gateway: string
  /** Address in the subnet where connections hang (SYNs are blackholed): for timeout tests. */
  unusedAddress: string
  /** The {@link LabOptions.rttMs} in front of every host's sshd now; undefined: direct. */
  readonly rttMs: number | undefined
  /** Changes the RTT of every host's proxy (see DelayProxy.rttMs); only with {@link LabOptions.rttMs}. */
  setRtt(ms: number): void
  /** Client private key (OpenSSH format, no passphrase), authorized for root on every host. */
  privateKey: string
  privateKeyPath: string
  publicKey: string
  /** '<address> <type> <base64>' per host, newline-terminated. */
  knownHosts: string
  /** File with {@link knownHosts}. */
  knownHostsPath: string
  /** Temp dir holding everything of the lab; removed by stop(). */
  dir: string
  /** Host by name; throws if there is none. */
  host(name: string): LabHost
  /** {@link makeClientKey} with the files in the lab dir. */
  makeClientKey(opts?: Omit<KeyOptions, 'dir'>): Promise<ClientKey>
  /** {@link knownHosts}, hashed by `ssh-keygen -H`. */
  hashedKnownHosts(): Promise<string>
  /** Kills the hosts and removes the netns, veths, bridge and temp dir. Idempotent. */
  stop(): Promise<void>
}

export interface LabOptions {
  /** Number of hosts, default 1. */
  hosts?: number
  /** Host key type(s) sshd offers (all three types are generated). Default 'ed25519'. */
  hostKeyType?: KeyType | KeyType[]
  /**
   * Label for the lab's temp dir ($TMPDIR/dzd-lab-<id>-<name>; in a test run $TMPDIR is the run's
   * dzd-test-* dir), handy when debugging.
   */
  name?: string
  /** Per-host readiness timeout, default 10 s. */
  startTimeoutMs?: number
  /**
   * Hosts run systemd as their pid 1 (in their own pid and cgroup namespaces, see host.ts), with
   * sshd and nginx as units; `host.sh` then runs inside those namespaces too (systemctl works).
   */
  systemd?: boolean
  /** App runtimes from Debian the hosts run besides Node (`elixir`, `gunicorn`), installed if missing. */
  runtimes?: PackageOptions['runtimes']
  /**
   * Latency lab: put this round-trip time (ms) in front of each host's sshd, by a delaying TCP
   * proxy in this process on 127.0.0.1 (test/hosts/delay-proxy.ts; 0: the proxy without delay).
   * Hosts then report the proxy as their `ssh` / `sshTarget` and in known_hosts
   * (`[127.0.0.1]:<port>`), so deployInputs and ssh with the lab's known_hosts go through it.
   * Only SSH from this machine is delayed: HTTP to the hosts and host-to-host traffic are not.
   */
  rttMs?: number
}

const LAB_DIR = /^dzd-lab-([0-9a-f]{6})(?:-|$)/

/** Starts a lab: hosts host1..hostN, each with sshd on :22 and nginx on :80 answering /_lab/ping. */
export async function startLab(opts: LabOptions = {}): Promise<Lab> {
  const count = opts.hosts ?? 1
  if (!Number.isInteger(count) || count < 1 || count > 200)
    throw new Error(`bad host count ${count}`)
  if (opts.rttMs !== undefined && !(opts.rttMs >= 0 && opts.rttMs <= 10_000))
    throw new Error(`bad rttMs ${opts.rttMs}`)
  if (process.getuid?.() !== 0) {
    throw new Error('test/hosts must run as root (it creates network and mount namespaces)')
  }
  await ensurePackages({ systemd: opts.systemd, runtimes: opts.runtimes })
  const { id, dir } = claimLabDir(opts.name)
  const unregister = onProcessExit(() => destroyLab(id))
  const proxies: DelayProxy[] = []
  const closeProxies = () => Promise.all(proxies.map((p) => p.close()))
  try {
    const lab = await buildLab(id, dir, count, opts, proxies)
    // assign, not spread: keeps the rttMs getter
    return Object.assign(lab, {
      stop: async () => {
        unregister()
        await closeProxies()
        await noteTempLeftovers(id, lab.hosts)
        destroyLab(id)
      },
    })
  } catch (err) {
    unregister()
    await closeProxies()
    destroyLab(id)
    throw err
  }
}

/** Creates $TMPDIR/dzd-lab-<id>[-<name>] for a fresh random id (retrying on the rare id clash). */
function claimLabDir(name?: string): { id: string; dir: string } {
  const label = name ? `-${name.replace(/[^\w.-]+/g, '_')}` : ''
  for (;;) {
    const id = randomBytes(3).toString('hex')
    const dir = join(tmpdir(), `dzd-lab-${id}${label}`)
    if (labDirs(id).length > 0 || labIdsOnMachine().includes(id)) continue
    mkdirSync(dir, { mode: 0o700 })
    writeFileSync(join(dir, 'owner.pid'), String(process.pid))
    if (labDirs(id).length === 1) {
      // The test run's list of its labs (__tests__/global-setup.ts checks they are all gone).
      if (process.env.DZD_LAB_LOG) appendFileSync(process.env.DZD_LAB_LOG, `${id}\n`)
      return { id, dir }
    }
    rmSync(dir, { recursive: true, force: true }) // another process took the same id meanwhile
  }
}

/**
 * A host script whose runner went away (a run killed mid-command) removes its temp dir when its
 * next line hits the closed channel (SIGPIPE, trapped): within seconds, as the health loop prints
 * every 2 s. Resolves once no host has a temp file left, or after `timeoutMs` either way.
 */
export async function tempDirsSettled(hosts: LabHost[], timeoutMs = 6000): Promise<void> {
  await waitFor(() => hosts.every((h) => h.tempLeftovers().length === 0), {
    what: "the lab hosts' temp dirs to empty",
    timeoutMs,
    intervalMs: 100,
  }).catch(() => undefined)
}

/**
 * SIGTERMs the processes of the host (those in its network namespace) but its init and the
 * init's own children, as a host shutdown does: a host script still running (a killed run's,
 * orphaned, in a command that hangs on purpose) exits through its traps and removes its temp dir.
 * The host goes down next anyway.
 */
function terminateProcesses(host: LabHost): void {
  const init = host.pid
  if (!init) return
  const pids = execFileSync('ip', ['netns', 'pids', host.netns], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map(Number)
  for (const pid of pids) {
    try {
      const parent = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1])
      if (pid !== init && parent !== init) process.kill(pid, 'SIGTERM')
    } catch {
      // gone meanwhile
    }
  }
}

/**
 * The test run's list of what host scripts left in the lab hosts' temp dirs (LabHost.
 * tempLeftovers), which __tests__/global-setup.ts reports as it reports the run's temp dir: what
 * is still there once the scripts still running were told to stop (terminateProcesses).
 */
async function noteTempLeftovers(id: string, hosts: LabHost[]): Promise<void> {
  const log = process.env.DZD_HOST_TMP_LOG
  if (!log) return
  const busy = hosts.filter((h) => h.tempLeftovers().length > 0)
  if (busy.length === 0) return
  busy.forEach(terminateProcesses)
  await tempDirsSettled(busy)
  const lines = hosts.flatMap((h) => h.tempLeftovers().map((e) => `lab ${id} ${h.name}: ${e}\n`))
  if (lines.length > 0) appendFileSync(log, lines.join(''))
}

type LabParts = Omit<Lab, 'stop'>

async function buildLab(
  id: string,
  dir: string,
  count: number,
  opts: LabOptions,
  proxies: DelayProxy[],
): Promise<LabParts> {
  const n = names(id)
  const keyTypes = [opts.hostKeyType ?? 'ed25519'].flat()
  const privateKeyPath = join(dir, 'id_ed25519')
  const [prefix] = await Promise.all([
    createBridge(n.bridge),
    keygen(privateKeyPath, 'ed25519', `dzd-lab-${id}`),
  ])
  const unusedAddress = `${prefix}.250`
  const publicKey = readFileSync(`${privateKeyPath}.pub`, 'utf8').trim()
  const hostNames = Array.from({ length: count }, (_, i) => `host${i + 1}`)
  const address = (i: number) => `${prefix}.${10 + i}`
  const etcHosts = ['127.0.0.1 localhost', ...hostNames.map((h, i) => `${address(i)} ${h}`)]
  const hosts = await Promise.all(
    hostNames.map(async (name, i) => {
      const sshVia = await delayProxy(address(i), opts.rttMs, proxies)
      const spec = {
        ...{ name, address: address(i), netns: n.netns(name), dir: join(dir, name), sshVia },
        ...{ keyTypes, clientPublicKey: publicKey, startTimeoutMs: opts.startTimeoutMs },
        systemd: opts.systemd,
        etcHosts: `${etcHosts.join('\n')}\n`,
      }
      await createHostNetwork({ ...spec, veth: n.veth(i + 1), bridge: n.bridge, unusedAddress })
      return new Host(spec, await prepareHost(spec))
    }),
  )
  // Only now: adding ports changes the bridge's MAC, which flushes its neighbour entries.
  await blackhole(unusedAddress, n.bridge)
  await Promise.all(hosts.map((h) => h.start()))
  const knownHosts = hosts.map((h) => `${h.knownHostsLine}\n`).join('')
  const knownHostsPath = join(dir, 'known_hosts')
  writeFileSync(knownHostsPath, knownHosts)
  return {
    id,
    hosts,
    subnet: `${prefix}.0/24`,
    gateway: `${prefix}.1`,
    unusedAddress,
    get rttMs() {
      return proxies[0]?.rttMs
    },
    setRtt: (ms) => {
      if (proxies.length === 0) throw new Error('setRtt: the lab was started without rttMs')
      for (const p of proxies) p.rttMs = ms
    },
    privateKey: readFileSync(privateKeyPath, 'utf8'),
    privateKeyPath,
    publicKey,
    knownHosts,
    knownHostsPath,
    dir,
    host: (name) => hosts.find((h) => h.name === name) ?? missingHost(name),
    makeClientKey: (o) => makeClientKey({ ...o, dir }),
    hashedKnownHosts: () => hashKnownHosts(knownHosts),
  }
}

/** With `rttMs`, a delaying proxy to `address`:22 (added to `proxies`), else undefined. */
async function delayProxy(
  address: string,
  rttMs: number | undefined,
  proxies: DelayProxy[],
): Promise<{ host: string; port: number } | undefined> {
  if (rttMs === undefined) return undefined
  const proxy = await startDelayProxy({ target: { host: address, port: 22 }, rttMs })
  proxies.push(proxy)
  return { host: proxy.host, port: proxy.port }
}

const missingHost = (name: string): never => {
  throw new Error(`no lab host named ${name}`)
}

/** Tears down lab `id` (sync so it also works in exit handlers). */
function destroyLab(id: string): void {
  teardownNetwork(id)
  removeHostCgroups((name) => name.startsWith(`dzd-${id}-`))
  for (const d of labDirs(id)) rmSync(d, { recursive: true, force: true })
}

/** Lab dirs in the temp dir, and in the temp dirs of test runs in it (__tests__/global-setup.ts). */
const labDirs = (id?: string) =>
  [tmpdir(), ...entries(tmpdir(), RUN_DIR)].flatMap((base) =>
    entries(base, LAB_DIR).filter((d) => !id || LAB_DIR.exec(d.split('/').pop()!)?.[1] === id),
  )

const RUN_DIR = /^dzd-test-\w+$/

/** Paths of the entries of `dir` whose names match (none when `dir` went away meanwhile). */
function entries(dir: string, name: RegExp): string[] {
  try {
    return readdirSync(dir)
      .filter((d) => name.test(d))
      .map((d) => join(dir, d))
  } catch {
    return []
  }
}

/** Of the labs `ids`, those that still have a network namespace, link or cgroup on the machine. */
export function labsLeftBehind(ids: readonly string[]): string[] {
  const present = new Set([...labIdsOnMachine(), ...labIdsWithCgroups()])
  return ids.filter((id) => present.has(id))
}

/**
 * Removes leftovers of crashed runs: namespaces, links, cgroups and temp dirs of labs whose owner process
 * (recorded in the lab dir) is gone. Labs of live processes are never touched. Returns the ids removed.
 */
export function gcLabs(): string[] {
  const dirIds = labDirs().map((d) => LAB_DIR.exec(d.split('/').pop()!)![1])
  const ids = [...labIdsOnMachine(), ...labIdsWithCgroups(), ...dirIds]
  const removed = [...new Set(ids)].filter((id) => !ownerAlive(id))
  removed.forEach(destroyLab)
  return removed
}

function ownerAlive(id: string): boolean {
  const dir = labDirs(id)[0]
  if (!dir) return false
  try {
    process.kill(Number(readFileSync(join(dir, 'owner.pid'), 'utf8')), 0)
    return true
  } catch (err) {
    // No owner.pid yet: a lab being created right now, unless the dir is old.
    const starting = (err as NodeJS.ErrnoException).code === 'ENOENT'
    return starting && Date.now() - statSync(dir).mtimeMs < 60_000
  }
}
