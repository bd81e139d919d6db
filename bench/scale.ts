/**
 * bench/scale: wall time of blue-green and rolling (batch-size 4) deploys of the sample app to
 * 1, 4 and 16 throwaway hosts, with the built bundle, in one run. Targets (issue 5): 16 hosts
 * blue-green <= 1.5x one host; 16 hosts rolling batch 4 <= 4.5x one host.
 *
 *   npm run bench:scale            (as root; ~2 minutes; prints a markdown table)
 *
 * Each figure is the median of REPEATS deploys (after a first deploy that sets the hosts up).
 * Traffic stays on the lab's own network namespaces.
 */
import { deployInputs, makeRelease } from '../test/deploy-fixture.js'
import { startLab } from '../test/hosts/index.js'
import { requireBundle, timedAction } from './lib/action.js'
import { median } from './lib/stats.js'

const SIZES = [1, 4, 16]
const REPEATS = 3

requireBundle()

let release = 0
/** Wall time of a whole run (main and post step), as this benchmark has always measured it. */
async function timedDeploy(inputs: () => Record<string, string>): Promise<number> {
  const started = performance.now()
  await timedAction(inputs())
  return performance.now() - started
}

const results: { hosts: number; blueGreen: number; rolling: number }[] = []
for (const size of SIZES) {
  const lab = await startLab({ hosts: size, name: `scale${size}` })
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
    const blueGreen: number[] = []
    const rolling: number[] = []
    for (let i = 0; i < REPEATS; i++) {
      blueGreen.push(await timedDeploy(inputs()))
      rolling.push(await timedDeploy(inputs({ strategy: 'rolling', 'batch-size': '4' })))
    }
    results.push({ hosts: size, blueGreen: median(blueGreen), rolling: median(rolling) })
    console.error(
      `${size} host(s): blue-green ${blueGreen.map(Math.round)} ms, rolling ${rolling.map(Math.round)} ms`,
    )
  } finally {
    await lab.stop()
  }
}

const one = results[0]!
const ratio = (ms: number, base: number) => `${(ms / base).toFixed(2)}×`
console.log('| hosts | blue-green | × 1 host | rolling, batch 4 | × 1 host |')
console.log('| ---: | ---: | ---: | ---: | ---: |')
for (const r of results) {
  console.log(
    `| ${r.hosts} | ${(r.blueGreen / 1000).toFixed(2)} s | ${ratio(r.blueGreen, one.blueGreen)} | ${(r.rolling / 1000).toFixed(2)} s | ${ratio(r.rolling, one.rolling)} |`,
  )
}
const last = results[results.length - 1]!
console.log(
  `\nTargets: 16 hosts blue-green ≤ 1.5× (${ratio(last.blueGreen, one.blueGreen)}), rolling batch 4 ≤ 4.5× (${ratio(last.rolling, one.rolling)}).`,
)
