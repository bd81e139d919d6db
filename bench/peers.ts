/**
 * bench/peers: the same release of the sample app to the same kind of test host, under the same
 * load through nginx, with this action, the seed-style bash script, Capistrano, shipit-deploy and
 * pm2 deploy + reload, each set up the way its docs show (bench/lib/peers/*.ts say how), in one
 * run: failed requests and wall time per tool.
 *
 *   npm run bench:peers                              (as root; ~2 minutes, more on the first run)
 *   npm run bench:peers -- --only capistrano,pm2
 *   npm run bench:peers -- --rtt 50 --boot-ms 500 --health-interval 1s
 *
 * `--rtt N`: every tool's SSH goes through the latency lab (test/hosts `rttMs`: a proxy on
 * 127.0.0.1 that delays each direction by N/2 ms), so all of them are measured at the same RTT in
 * one run; the load's HTTP is not delayed. `--boot-ms N`: the app takes N ms to listen (the
 * sample app's bootDelayMs), for every tool. `--health-interval`: the action's (default 200ms).
 *
 * The peer tools are installed at bench time when missing: capistrano and rsync with apt,
 * shipit-cli, shipit-deploy and pm2 with npm into node_modules/.cache/bench-peers (never into
 * package.json). A tool that cannot be installed is skipped, with the reason in its row. Each tool
 * gets its own host; a first deploy sets it up, then one deploy of a new version runs under load
 * (1 s of load before and after). Traffic stays on the lab's namespaces.
 */
import { makeRelease } from '../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../test/hosts/index.js'
import { phaseMs, requireBundle, type TimedRun } from './lib/action.js'
import { numberOption, requireRoot, selected, stringOption } from './lib/cli.js'
import { formatLoadReport, LOAD_COLUMNS, loadCells, underLoad } from './lib/load.js'
import { actionPeer } from './lib/peers/action.js'
import { capistranoPeer } from './lib/peers/capistrano.js'
import { ensurePeerTools, type PeerTools } from './lib/peers/install.js'
import { pm2Peer } from './lib/peers/pm2.js'
import { seedPeer } from './lib/peers/seed.js'
import { shipitPeer } from './lib/peers/shipit.js'
import type { Peer } from './lib/peers/types.js'
import { machineLine, markdownTable, seconds } from './lib/stats.js'

const TOOLS = ['action', 'seed', 'capistrano', 'shipit', 'pm2'] as const
type Tool = (typeof TOOLS)[number]

requireRoot()
requireBundle()
const only = selected(TOOLS)
const rttMs = numberOption('rtt', undefined)
const bootMs = numberOption('boot-ms', 0)
const healthInterval = stringOption('health-interval') ?? '200ms'
const release = (version: string) =>
  bootMs > 0 ? makeRelease(version, { bootDelayMs: bootMs }) : makeRelease(version)
const tools = await ensurePeerTools()
console.error(`peer tools: ${JSON.stringify(tools)}`)

let actionRun: TimedRun | undefined
type MakePeer = (lab: Lab, host: LabHost, t: PeerTools) => Peer | Promise<Peer>
const makePeer: Record<Tool, MakePeer> = {
  action: (lab, host) => actionPeer(lab, host, release, healthInterval, (r) => (actionRun = r)),
  seed: (lab, host) => seedPeer(lab, host, release),
  capistrano: (lab, host, t) => capistranoPeer(lab, host, t.versions.capistrano!, release),
  shipit: (lab, host, t) => shipitPeer(lab, host, t.shipit, t.versions['shipit-deploy']!, release),
  pm2: (lab, host, t) => pm2Peer(lab, host, t.pm2, t.versions.pm2!, release),
}

const message = (error: unknown) => ((error as Error).message ?? String(error)).split('\n')[0]!
const blanks = () => [...LOAD_COLUMNS.map(() => ''), '']

const rows: (string | number)[][] = []
const notes: string[] = []
const lab = await startLab({ hosts: only.length, name: 'bench-peers', rttMs })
try {
  for (const [i, tool] of only.entries()) {
    const host = lab.hosts[i]!
    const missing = tools.unavailable[tool]
    if (missing !== undefined) {
      console.error(`${tool}: SKIPPED, not installed here: ${missing}`)
      rows.push([tool, `skipped: not installed (${missing})`, ...blanks()])
      continue
    }
    let peer: Peer | undefined
    try {
      const made = (peer = await makePeer[tool](lab, host, tools))
      await made.deploy('p1')
      await made.serve()
      let ms = 0
      const result = await underLoad([`http://${host.address}/`], async () => {
        ms = await made.deploy('p2')
      })
      if (result.error !== undefined) throw result.error
      const r = result.report
      console.error(`${tool}: ${seconds(ms)}; ${formatLoadReport(r)}`)
      rows.push([made.name, seconds(ms), ...loadCells(r), Object.keys(r.byVersion).join(' → ')])
      notes.push(`- ${made.name}: ${made.setup}`)
    } catch (error) {
      console.error(`${tool} could not run: ${(error as Error).stack ?? error}`)
      rows.push([peer?.name ?? tool, `could not run: ${message(error)}`, ...blanks()])
    } finally {
      await peer?.close?.()
    }
  }
} finally {
  await lab.stop()
}

const rtt = rttMs === undefined ? 'loopback (no proxy)' : `SSH at ${rttMs} ms RTT`
console.log(`${rtt}; app boot ${bootMs} ms; the action's health-interval ${healthInterval}\n`)
console.log(markdownTable(['tool', '>deploy wall time', ...LOAD_COLUMNS, 'versions served'], rows))
if (actionRun) {
  const phases = [...phaseMs(actionRun.run.main.summary)].map(([p, ms]) => `${p} ${seconds(ms)}`)
  console.log(`\nThe action's deploy under load, per phase: ${phases.join(', ')}`)
}
console.log(`\n${notes.join('\n')}\n\n${await machineLine()}`)
