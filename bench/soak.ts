/**
 * bench/soak: consecutive deploy / rollback cycles on 2 throwaway hosts under constant load
 * through their nginx (test/load.ts), with the built bundle (issue 8). After every run: the run
 * succeeded, each host is consistent (test/consistency.ts: one version serving, state.json,
 * `current`, upstream file and slots agree, history without repeats, the lock free, no leftovers),
 * at most keep-releases releases on disk. After every cycle: the processes in each host's network
 * namespace and the file descriptors of its nginx and app processes, compared with the first
 * cycle. At the end: 0 failed requests. Stops at the first problem (exit 1).
 *
 *   npm run bench:soak -- --cycles 100     (as root; default 100 cycles, about 10 s each)
 */
import { existsSync } from 'node:fs'
import { errorLine, runAction } from '../test/action-runner.js'
import { consistencyProblems } from '../test/consistency.js'
import { addSite, deployInputs, makeRelease } from '../test/deploy-fixture.js'
import { run } from '../test/hosts/exec.js'
import { startLab, type LabHost } from '../test/hosts/index.js'
import { formatLoadReport, startLoad } from '../test/load.js'

const KEEP_RELEASES = 3
/**
 * What the last cycle may have above the first before it counts as a leak: nginx workers of an
 * earlier reload still finishing a slow request, and the load's connections, come and go.
 */
const SLACK = { processes: 2, fds: 40 }

function cyclesArgument(argv: string[]): number {
  const at = argv.indexOf('--cycles')
  if (at === -1) return 100
  const cycles = Number(argv[at + 1])
  if (!Number.isInteger(cycles) || cycles < 1 || cycles > 10_000) {
    throw new Error(`--cycles wants a whole number from 1 to 10000, got ${argv[at + 1]}`)
  }
  return cycles
}

/** Processes in the host's network namespace, and open fds of its nginx and node processes. */
interface Usage {
  processes: number
  nginxFds: number
  appFds: number
  /** KB under the deploy path; of which in logs/ (the slots' output, appended to). */
  diskKb: number
  logsKb: number
  /** Bytes of state.json (one history entry per version deployed). */
  stateBytes: number
  releases: number
}

async function usage(host: LabHost): Promise<Usage> {
  const { stdout: pids } = await run(['ip', 'netns', 'pids', host.netns])
  const { stdout } = await host.sh(`fds() { n=0; for p in $(pgrep -x "$1"); do
  case " $PIDS " in *" $p "*) n=$((n + $(ls /proc/$p/fd | wc -l))) ;; esac; done; echo $n; }
PIDS="${pids.split('\n').filter(Boolean).join(' ')}"
fds nginx; fds node
du -sk /srv/shop | cut -f1
du -sk /srv/shop/logs | cut -f1
stat -c %s /srv/shop/.deploy/state.json
ls /srv/shop/releases | wc -l`)
  const [nginxFds, appFds, diskKb, logsKb, stateBytes, releases] = stdout
    .trim()
    .split('\n')
    .map(Number)
  return {
    processes: pids.split('\n').filter(Boolean).length,
    nginxFds: nginxFds!,
    appFds: appFds!,
    diskKb: diskKb!,
    logsKb: logsKb!,
    stateBytes: stateBytes!,
    releases: releases!,
  }
}

async function deployOrRollback(inputs: Record<string, string>): Promise<void> {
  const { main, post } = await runAction(inputs)
  const error = errorLine(main.log)
  if (main.exitCode !== 0 || error) throw new Error(`run failed: ${error || main.exitCode}`)
  if (post.exitCode !== 0) throw new Error(`post step failed: ${post.log}`)
}

async function expectConsistent(hosts: LabHost[], version: string): Promise<void> {
  const problems = (await Promise.all(hosts.map((h) => consistencyProblems(h, version)))).flat()
  if (problems.length > 0) throw new Error(`inconsistent after ${version}: ${problems.join('; ')}`)
}

if (!existsSync(new URL('../dist/index.js', import.meta.url))) {
  throw new Error('dist/index.js is missing: run npm run build first')
}
const cycles = cyclesArgument(process.argv)
const lab = await startLab({ hosts: 2, name: 'soak' })
const started = Date.now()
let completed = 0
let failure: unknown
const inputs = (version: string, extra: Record<string, string> = {}) =>
  deployInputs(lab, lab.hosts, makeRelease(version), {
    version,
    'keep-releases': String(KEEP_RELEASES),
    ...extra,
  })
const first: Usage[] = []
let last: Usage[] = []
let maxDiskKb = 0
let maxReleases = 0
try {
  await deployOrRollback(inputs('base'))
  await Promise.all(lab.hosts.map((h) => addSite(h, 'shop')))
  const load = startLoad({
    urls: lab.hosts.map((h) => `http://${h.address}/`),
    pauseMs: 20,
    maxRequests: 100_000_000,
    maxDurationMs: cycles * 120_000,
  })
  try {
    for (let cycle = 1; cycle <= cycles; cycle++) {
      const version = `s${cycle}`
      await deployOrRollback(inputs(version))
      await expectConsistent(lab.hosts, version)
      await deployOrRollback(inputs(version, { rollback: 'true' }))
      await expectConsistent(lab.hosts, 'base')
      last = await Promise.all(lab.hosts.map(usage))
      if (cycle === 1) first.push(...last)
      maxDiskKb = Math.max(maxDiskKb, ...last.map((u) => u.diskKb))
      maxReleases = Math.max(maxReleases, ...last.map((u) => u.releases))
      if (maxReleases > KEEP_RELEASES) throw new Error(`${maxReleases} releases on a host`)
      completed = cycle
      if (cycle % 10 === 0 || cycle === cycles) {
        const elapsed = Math.round((Date.now() - started) / 1000)
        console.error(`cycle ${cycle}/${cycles} (${elapsed} s): ${JSON.stringify(last)}`)
      }
    }
  } finally {
    const report = await load.stop()
    console.log(`load: ${formatLoadReport(report)}`)
    if (report.failed > 0) failure ??= new Error(`${report.failed} failed requests`)
  }
} catch (error) {
  failure = error
} finally {
  await lab.stop()
}

console.log(
  `soak: ${completed} of ${cycles} deploy/rollback cycles (${completed * 2} runs) on 2 hosts in ${Math.round((Date.now() - started) / 1000)} s`,
)
lab.hosts.forEach((h, i) => {
  const [a, b] = [first[i], last[i]]
  if (!a || !b) return
  const leaked =
    b.processes > a.processes + SLACK.processes ||
    b.nginxFds > a.nginxFds + SLACK.fds ||
    b.appFds > a.appFds + SLACK.fds
  if (leaked) failure ??= new Error(`${h.name} leaks processes or file descriptors`)
  console.log(
    `${h.name}: processes ${a.processes} -> ${b.processes}, nginx fds ${a.nginxFds} -> ${b.nginxFds}, ` +
      `app fds ${a.appFds} -> ${b.appFds}, deploy path ${a.diskKb} KB -> ${b.diskKb} KB ` +
      `(logs/ ${a.logsKb} -> ${b.logsKb} KB, state.json ${a.stateBytes} -> ${b.stateBytes} bytes)`,
  )
})
console.log(
  `max disk use ${maxDiskKb} KB, max releases on a host ${maxReleases} (keep-releases ${KEEP_RELEASES})`,
)
if (failure) {
  console.error(`soak FAILED: ${failure instanceof Error ? failure.message : String(failure)}`)
  process.exitCode = 1
}
