/**
 * bench/rtt: how many sequential SSH round trips a deploy makes, per phase. A 1-host blue-green
 * deploy of a new version of the sample app (boots in 0.5 s, `health-interval: 1s`) through the
 * latency lab (test/hosts `rttMs`: a proxy that delays each direction by RTT/2) at RTT 0, 50 and
 * 150 ms. A phase that makes n round trips one after another takes n x RTT longer, so
 * n = (t(150) - t(0)) / 150 ms (and from 50 ms: (t(50) - t(0)) / 50 ms). The difference between
 * RTT levels cancels what the phase costs in CPU, so the count holds on a busy machine.
 *
 *   npm run bench:rtt                   (as root; ~2 minutes)
 *   npm run bench:rtt -- --repeats 5
 *   npm run bench:rtt -- --strategy rollback
 *   npm run bench:rtt -- --strategy rollback-warm
 *   npm run bench:rtt -- --assets 5000
 *
 * `--strategy rollback` measures a rollback instead: each repeat deploys a new version at RTT 0,
 * then rolls back to the previous one (`rollback: true`, keep-previous stop, so the rollback starts
 * the previous release from releases/ and checks its health) at the RTT measured.
 * `--strategy rollback-warm`: the same with `keep-previous: warm` on the deploys, so the previous
 * release still runs on the idle slot and the rollback only switches nginx to it.
 * `--assets N`: every release has N fingerprinted files of its own in public/assets, and the
 * deploys set `asset-path` (their bridge is folded into the ship, the switch and the finish block).
 *
 * Medians of the repeats per RTT, the levels interleaved (0, 50, 150, 0, 50, ...) so that load on
 * the machine falls on all of them alike; a first deploy at RTT 0 sets the host up. Only SSH
 * is delayed (RTT 0 still goes through the proxy, so its own cost cancels too): the action's HTTP
 * health checks run on the host, and nothing else crosses the "network".
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { deployInputs, makeAssetRelease, makeRelease } from '../test/deploy-fixture.js'
import { startLab } from '../test/hosts/index.js'
import { phaseMs, requireBundle, timedAction, type TimedRun } from './lib/action.js'
import { numberOption, requireRoot } from './lib/cli.js'
import { machineLine, markdownTable, median, seconds } from './lib/stats.js'

const RTTS = [0, 50, 150] as const
const TITLES = {
  'blue-green': 'blue-green deploy',
  rollback: 'rollback (cold, after a deploy)',
  'rollback-warm': 'rollback (warm: keep-previous warm)',
}
const BOOT_DELAY_MS = 500

requireRoot()
requireBundle()
const repeats = repeatsArg()
const strategy = strategyArg()
const assets = numberOption('assets', 0)

const lab = await startLab({ hosts: 1, name: 'bench-rtt', rttMs: 0 })
const host = lab.hosts[0]!
const runs = new Map<number, TimedRun[]>(RTTS.map((rtt) => [rtt, []]))
try {
  const deploy = (version: string) =>
    timedAction(
      deployInputs(lab, [host], release(version), {
        version,
        'health-interval': '1s',
        ...(assets > 0 ? { 'asset-path': 'public/assets' } : {}),
        ...(strategy === 'rollback-warm' ? { 'keep-previous': 'warm' } : {}),
      }),
    )
  /** A rollback run: no release or version; back to the previous release of the host. */
  const rollback = () =>
    timedAction(deployInputs(lab, [host], '.', { 'release-path': '.', rollback: 'true' }))
  await deploy('v0')
  for (let i = 1; i <= repeats; i++) {
    for (const rtt of RTTS) {
      if (strategy !== 'blue-green') {
        lab.setRtt(0)
        await deploy(`v${i}-rtt${rtt}`)
      }
      lab.setRtt(rtt)
      const run = strategy === 'blue-green' ? await deploy(`v${i}-rtt${rtt}`) : await rollback()
      runs.get(rtt)!.push(run)
      const phases = [...phaseMs(run.run.main.summary)].map(([p, ms]) => `${p} ${Math.round(ms)}`)
      console.error(`RTT ${rtt} ms: ${Math.round(run.ms)} ms: ${phases.join(', ')}`)
    }
  }
} finally {
  await lab.stop()
}

/** The sample app's release, with `--assets` files of its own in public/assets. */
function release(version: string): string {
  const behaviour = { bootDelayMs: BOOT_DELAY_MS }
  if (assets === 0) return makeRelease(version, behaviour)
  const dir = makeAssetRelease(version, behaviour)
  for (let k = 0; k < 100; k++) mkdirSync(join(dir, `public/assets/d${k}`))
  for (let i = 0; i < assets; i++) {
    writeFileSync(join(dir, `public/assets/d${i % 100}/f${i}-${version}.js`), `${version} ${i}\n`)
  }
  return dir
}

/** Per RTT, the median of each measure over its runs. */
const medianAt = (rtt: number, measure: (r: TimedRun) => number) =>
  median(runs.get(rtt)!.map(measure))
const phaseOf = (phase: string) => (r: TimedRun) => phaseMs(r.run.main.summary).get(phase) ?? 0
const inPhases = (r: TimedRun) =>
  [...phaseMs(r.run.main.summary).values()].reduce((sum, ms) => sum + ms, 0)

/** Phases in the order of the first run at RTT 0 (every run has the same ones). */
const phases = [...phaseMs(runs.get(0)![0]!.run.main.summary).keys()]
const measures: [string, (r: TimedRun) => number][] = [
  ...phases.map((p): [string, (r: TimedRun) => number] => [p, phaseOf(p)]),
  ['outside phases (node start, inputs, pack, report)', (r) => r.ms - inPhases(r)],
  ['**whole deploy (main step)**', (r) => r.ms],
  ['post step (end of the job)', (r) => r.postMs],
]
const trips = (at0: number, at: number, rtt: number) => ((at - at0) / rtt).toFixed(1)
const rows = measures.map(([name, measure]) => {
  const [t0, t50, t150] = RTTS.map((rtt) => medianAt(rtt, measure)) as [number, number, number]
  return [name, seconds(t0), seconds(t50), seconds(t150), trips(t0, t150, 150), trips(t0, t50, 50)]
})
console.log(
  markdownTable(
    [
      `1-host ${TITLES[strategy]}${assets > 0 ? `, asset-path of ${assets} files` : ''}, median of ${repeats}`,
      '>RTT 0',
      '>RTT 50 ms',
      '>RTT 150 ms',
      '>round trips (from 150 ms)',
      '>(from 50 ms)',
    ],
    rows,
  ),
)
console.log(`\n${await machineLine()}`)

/** `--strategy blue-green|rollback|rollback-warm` (default blue-green). */
function strategyArg(argv = process.argv.slice(2)): keyof typeof TITLES {
  const at = argv.findIndex((a) => a === '--strategy' || a.startsWith('--strategy='))
  if (at === -1) return 'blue-green'
  const value = argv[at]!.includes('=') ? argv[at]!.split('=')[1]! : (argv[at + 1] ?? '')
  if (!Object.hasOwn(TITLES, value)) {
    throw new Error(`--strategy: expected ${Object.keys(TITLES).join(', ')}; got '${value}'`)
  }
  return value as keyof typeof TITLES
}

/** `--repeats N` (default 3). */
function repeatsArg(argv = process.argv.slice(2)): number {
  const at = argv.findIndex((a) => a === '--repeats' || a.startsWith('--repeats='))
  if (at === -1) return 3
  const value = argv[at]!.includes('=') ? argv[at]!.split('=')[1]! : (argv[at + 1] ?? '')
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new Error(`--repeats: expected a count; got '${value}'`)
  return n
}
