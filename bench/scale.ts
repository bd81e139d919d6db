/**
 * bench/scale: wall time of blue-green and rolling (batch-size 4) deploys of the sample app to
 * 1, 4 and 16 throwaway hosts, with the built bundle, in one run. Targets (issues 5 and 15): 16
 * hosts blue-green <= 1.5x one host; 16 hosts rolling batch 4 <= 4.5x one host, at the same RTT.
 *
 *   npm run bench:scale                              (as root; ~2 minutes; prints markdown tables)
 *   npm run bench:scale -- --rtt 50                  (SSH through the latency lab at 50 ms RTT)
 *   npm run bench:scale -- --rtt 50 --sizes 1,16 --repeats 3
 *
 * Each figure is the median of `--repeats` (default 3) deploys after a first deploy that sets the
 * hosts up. `--rtt N`: every host's sshd sits behind the latency lab's proxy (test/hosts `rttMs`,
 * each direction delayed by N/2 ms), so the ratios compare runs at the same RTT. The per-phase
 * table is the union of each phase's spans over the hosts (and batches) from the job summary's
 * timeline: how long the run had that phase going somewhere. "runner CPU" is the CPU time of the
 * action's own processes: the lab's hosts (sshd, nginx, the apps) share this machine's cores with
 * the runner, so on many hosts the wall time also holds their CPU work, which real hosts do on
 * their own; "cores busy" is how busy this machine's cores were during the deploys, all of them
 * together. Traffic stays on the lab's namespaces.
 */
import { deployInputs, makeRelease } from '../test/deploy-fixture.js'
import { startLab } from '../test/hosts/index.js'
import { phaseMs, requireBundle, timedAction } from './lib/action.js'
import { countsOption, numberOption } from './lib/cli.js'
import {
  busyFraction,
  machineCpu,
  machineLine,
  markdownTable,
  median,
  seconds,
} from './lib/stats.js'
import { medianPhases, ratio } from './lib/scale.js'

const sizes = countsOption('sizes', [1, 4, 16])
const repeats = numberOption('repeats', 3, { min: 1 })
const rttMs = numberOption('rtt', undefined)

requireBundle()

let release = 0
/** Wall time of a whole run (main and post step), as this benchmark has always measured it. */
async function timedDeploy(
  inputs: () => Record<string, string>,
): Promise<{ ms: number; cpuMs: number; busy: number; phases: Map<string, number> }> {
  const started = performance.now()
  const cpuBefore = machineCpu()
  const run = await timedAction(inputs(), { measureCpu: true })
  const busy = busyFraction(cpuBefore)
  const { main, post } = run.run
  return {
    ms: performance.now() - started,
    cpuMs: (main.cpuMs ?? 0) + (post.cpuMs ?? 0),
    busy,
    phases: phaseMs(main.summary),
  }
}

interface Result {
  hosts: number
  blueGreen: number
  rolling: number
  /** CPU time of the action's processes (main + post step) on the runner. */
  blueGreenCpu: number
  rollingCpu: number
  /** How busy this machine's cores were during the deploys (runner and lab hosts together). */
  blueGreenBusy: number
  rollingBusy: number
  blueGreenPhases: Map<string, number>
  rollingPhases: Map<string, number>
}
const results: Result[] = []
for (const size of sizes) {
  const lab = await startLab({ hosts: size, name: `scale${size}`, rttMs })
  try {
    const inputs =
      (extra: Record<string, string> = {}) =>
      () => {
        const version = `r${++release}`
        return deployInputs(lab, lab.hosts, makeRelease(version), {
          version,
          'max-parallel': '16',
          ...extra,
        })
      }
    await timedDeploy(inputs())
    const blueGreen: Awaited<ReturnType<typeof timedDeploy>>[] = []
    const rolling: typeof blueGreen = []
    for (let i = 0; i < repeats; i++) {
      blueGreen.push(await timedDeploy(inputs()))
      rolling.push(await timedDeploy(inputs({ strategy: 'rolling', 'batch-size': '4' })))
    }
    results.push({
      hosts: size,
      blueGreen: median(blueGreen.map((r) => r.ms)),
      rolling: median(rolling.map((r) => r.ms)),
      blueGreenCpu: median(blueGreen.map((r) => r.cpuMs)),
      rollingCpu: median(rolling.map((r) => r.cpuMs)),
      blueGreenBusy: median(blueGreen.map((r) => r.busy)),
      rollingBusy: median(rolling.map((r) => r.busy)),
      blueGreenPhases: medianPhases(blueGreen.map((r) => r.phases)),
      rollingPhases: medianPhases(rolling.map((r) => r.phases)),
    })
    console.error(
      `${size} host(s): blue-green ${blueGreen.map((r) => Math.round(r.ms))} ms, rolling ${rolling.map((r) => Math.round(r.ms))} ms`,
    )
  } finally {
    await lab.stop()
  }
}

const percent = (fraction: number) => `${Math.round(fraction * 100)} %`
const one = results[0]!
const rtt = rttMs === undefined ? 'loopback' : `SSH at ${rttMs} ms RTT`
console.log(`${rtt}; median of ${repeats}; main + post step; max-parallel 16\n`)
console.log(
  markdownTable(
    [
      '>hosts',
      '>blue-green',
      `>× ${one.hosts} host(s)`,
      '>rolling, batch 4',
      `>× ${one.hosts} host(s)`,
      '>runner CPU, blue-green',
      '>runner CPU, rolling',
      '>cores busy, blue-green',
      '>cores busy, rolling',
    ],
    results.map((r) => [
      r.hosts,
      seconds(r.blueGreen),
      ratio(r.blueGreen, one.blueGreen),
      seconds(r.rolling),
      ratio(r.rolling, one.rolling),
      seconds(r.blueGreenCpu),
      seconds(r.rollingCpu),
      percent(r.blueGreenBusy),
      percent(r.rollingBusy),
    ]),
  ),
)
const last = results[results.length - 1]!
console.log(
  `\nTargets: ${last.hosts} hosts blue-green ≤ 1.5× (${ratio(last.blueGreen, one.blueGreen)}), rolling batch 4 ≤ 4.5× (${ratio(last.rolling, one.rolling)}).\n`,
)

const phases = [...new Set(results.flatMap((r) => [...r.blueGreenPhases.keys()]))]
const phaseCell = (m: Map<string, number>, p: string) => seconds(m.get(p) ?? 0)
console.log(
  markdownTable(
    [
      'phase (union over hosts)',
      ...results.map((r) => `>blue-green, ${r.hosts}`),
      ...results.map((r) => `>rolling, ${r.hosts}`),
    ],
    phases.map((p) => [
      p,
      ...results.map((r) => phaseCell(r.blueGreenPhases, p)),
      ...results.map((r) => phaseCell(r.rollingPhases, p)),
    ]),
  ),
)
console.log(`\n${await machineLine()}`)
