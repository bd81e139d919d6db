/**
 * bench/deploy-time: wall time of one deploy of the sample app to one host with the action against
 * the seed-style bash script (bench/lib/seed-deploy.sh: tar + scp + ssh + restart + fixed sleep),
 * in the same run, the action's time per phase, and the app's own boot time. Target (issue 9): the
 * action's overhead over the app's boot time <= 0.5x the bash script's.
 *
 *   npm run bench:deploy-time      (as root; ~1 minute)
 *
 * Medians of REPEATS deploys each (after a first deploy that sets the host up), the action's and
 * the script's alternating. The action's time is its main step (node start to exit); its post
 * step (run at the end of the job) is shown apart. Traffic stays on the lab's network namespaces.
 */
import { deployInputs, makeRelease } from '../test/deploy-fixture.js'
import { startLab } from '../test/hosts/index.js'
import { phaseMs, requireBundle, timedAction, type TimedRun } from './lib/action.js'
import { appBootMs } from './lib/boot.js'
import { requireRoot } from './lib/cli.js'
import { SEED_SETTLE_SECONDS, seedDeploy } from './lib/seed-deploy.js'
import { machineLine, markdownTable, median, seconds } from './lib/stats.js'

const REPEATS = 5
const TARGET_RATIO = 0.5

requireRoot()
requireBundle()

const boot: number[] = []
for (let i = 0; i < REPEATS; i++) boot.push(await appBootMs(makeRelease(`boot${i}`)))

const lab = await startLab({ hosts: 1, name: 'bench-deploy-time' })
const host = lab.hosts[0]!
const action: TimedRun[] = []
const bash: number[] = []
try {
  const deploy = (version: string) =>
    timedAction(deployInputs(lab, [host], makeRelease(version), { version }))
  await deploy('a0')
  await seedDeploy(lab, host, makeRelease('b0'), 'b0')
  for (let i = 1; i <= REPEATS; i++) {
    action.push(await deploy(`a${i}`))
    bash.push(await seedDeploy(lab, host, makeRelease(`b${i}`), `b${i}`))
  }
} finally {
  await lab.stop()
}
console.error(`app boot: ${boot.map(Math.round).join(', ')} ms`)
console.error(`action: ${action.map((r) => Math.round(r.ms)).join(', ')} ms`)
console.error(`bash: ${bash.map(Math.round).join(', ')} ms`)

const bootMs = median(boot)
const actionMs = median(action.map((r) => r.ms))
const bashMs = median(bash)
const overhead = (ms: number) => ms - bootMs
const ratio = overhead(actionMs) / overhead(bashMs)
console.log(
  markdownTable(
    ['deploy of the sample app to 1 host', '>wall time', '>over app boot'],
    [
      ['app boot alone (`node server.js` to first 200 on /health)', seconds(bootMs), '–'],
      ['this action, blue-green (main step)', seconds(actionMs), seconds(overhead(actionMs))],
      [
        `bash script (scp + ssh + restart + sleep ${SEED_SETTLE_SECONDS})`,
        seconds(bashMs),
        seconds(overhead(bashMs)),
      ],
    ],
  ),
)
console.log(
  `\nPost step (end of job, not in the deploy): ${seconds(median(action.map((r) => r.postMs)))}.`,
)

// Phases of the median action run, from its job summary's timeline.
const typical = [...action].sort((a, b) => a.ms - b.ms)[Math.floor(action.length / 2)]!
const phases = [...phaseMs(typical.run.main.summary)]
const inPhases = phases.reduce((sum, [, ms]) => sum + ms, 0)
const share = (ms: number) => `${Math.round((100 * ms) / typical.ms)} %`
console.log(`\nTime per phase (the median run, ${seconds(typical.ms)}):\n`)
console.log(
  markdownTable(
    ['phase', '>time', '>share'],
    [
      ...phases.map(([phase, ms]) => [phase, seconds(ms), share(ms)]),
      [
        'outside phases (node start, inputs, pack, report)',
        seconds(typical.ms - inPhases),
        share(typical.ms - inPhases),
      ],
    ],
  ),
)
console.log(
  `\nTarget: action overhead <= ${TARGET_RATIO}x the script's: ${ratio.toFixed(2)}x, ` +
    `${ratio <= TARGET_RATIO ? 'met' : 'not met'}. ${await machineLine()}`,
)
