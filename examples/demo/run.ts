/**
 * `npm run demo`: a zero-downtime deploy on this machine, start to finish (needs root).
 *
 * Brings up a throwaway host (network namespace with its own sshd and nginx), deploys the sample
 * app v1 with the built action (dist/index.js, run the way the GitHub runner runs it), adds the
 * operator's nginx site, then deploys v2 while a bounded load runs through nginx and reports how
 * many requests failed, rolls back to v1, and releases v3 as a canary (10 %, then 50 % of the
 * traffic, then promoted). The host and the temp dirs are removed at the end, also on Ctrl-C
 * (DZD_KEEP_TMP=1 keeps the temp dirs of a failed demo).
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { runAction, type ActionRun } from '../../test/action-runner.js'
import { addSite, deployInputs, makeRelease, servedVersion } from '../../test/deploy-fixture.js'
import { startLab, type Lab, type LabHost } from '../../test/hosts/index.js'
import { formatLoadReport, startLoad, type LoadReport } from '../../test/load.js'
import { markFailed, removeTempDirs } from '../../test/tmp.js'

const ROOT = resolve(import.meta.dirname, '../..')
const BUNDLE = resolve(ROOT, 'dist/index.js')

const colour = process.stdout.isTTY === true && !process.env.NO_COLOR
const paint = (code: string) => (text: string) => (colour ? `\x1b[${code}m${text}\x1b[0m` : text)
const bold = paint('1')
const green = paint('32')
const red = paint('31')
const dim = paint('2')

const heading = (text: string) => console.log(`\n${bold(`==> ${text}`)}`)
const info = (text: string) => console.log(`    ${text}`)
const good = (text: string) => console.log(`    ${green(text)}`)
const bad = (text: string) => console.log(`    ${red(text)}`)

/** What the steps share. */
interface Demo {
  lab: Lab
  host: LabHost
  /** Job summary of the last deploy. */
  summary: string
  /** Every step that failed sets this; the exit code is 1 then. */
  failed: boolean
}

/** A step returns false to end the demo early (later steps would make no sense). */
type Step = (demo: Demo) => Promise<boolean>

let lab: Lab | undefined
let interrupted = false

process.on('SIGINT', () => {
  if (interrupted) process.exit(130)
  interrupted = true
  console.log(`\n${red('interrupted: removing the throwaway host')}`)
  void Promise.resolve(lab?.stop()).finally(() => process.exit(130))
})

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('The demo needs root (it creates network namespaces): sudo npm run demo')
    return 1
  }
  ensureBundle()

  heading('starting a throwaway host (network namespace with its own sshd and nginx)')
  lab = await startLab({ hosts: 1, name: 'demo' })
  const host = lab.hosts[0]!
  info(`${host.name} at ${bold(host.address)} (sshd on :22, nginx on :80)`)

  const demo: Demo = { lab, host, summary: '', failed: false }
  const steps: Step[] = [
    deployFirstVersion,
    addNginxSite,
    deployUnderLoad,
    rollBackUnderLoad,
    canaryUnderLoad,
  ]
  try {
    for (const step of steps) {
      if (!(await step(demo))) break
    }
    if (demo.summary) printSummary(demo.summary)
  } finally {
    heading('cleaning up')
    await lab.stop()
    lab = undefined
    if (demo.failed) markFailed()
    removeTempDirs()
    info('throwaway host and temp dirs removed')
  }
  console.log()
  if (demo.failed) console.log(red(bold('demo FAILED')))
  else
    console.log(
      green(bold('demo passed: v1 → v2 → rollback to v1 → canary v3, with zero failed requests')),
    )
  return demo.failed ? 1 : 0
}

/** dist/index.js is committed; build it only when it is missing. */
function ensureBundle(): void {
  if (existsSync(BUNDLE)) return
  heading('dist/index.js is missing: npm run build')
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' })
  if (build.status !== 0 || !existsSync(BUNDLE)) {
    throw new Error('npm run build failed (see above)')
  }
}

const deployFirstVersion: Step = async (demo) => {
  heading('deploying shop v1 (first deploy: blue slot)')
  return deploy(demo, 'v1')
}

const addNginxSite: Step = async (demo) => {
  heading("adding the operator's nginx site (port 80 → upstream shop, which the action manages)")
  // With the canary access log (README: Canary), for the canary step at the end.
  await addSite(demo.host, 'shop', { canaryLog: true })
  return expectServed(demo, 'v1')
}

const deployUnderLoad: Step = (demo) =>
  underLoad(demo, 'deploying shop v2 under load', 'v2', () => deploy(demo, 'v2'))

const rollBackUnderLoad: Step = (demo) =>
  underLoad(demo, 'rolling back to v1 under load (rollback: true)', 'v1', () =>
    run(demo, 'rollback', deployInputs(demo.lab, [demo.host], '.', { rollback: 'true' })),
  )

const canaryUnderLoad: Step = (demo) =>
  underLoad(demo, 'releasing shop v3 as a canary under load: 10 %, 50 %, promote', 'v3', () =>
    run(
      demo,
      'v3',
      deployInputs(demo.lab, [demo.host], makeRelease('v3'), {
        version: 'v3',
        strategy: 'canary',
        'canary-weight': '10,50,100',
        'canary-step-duration': '2s',
      }),
    ),
  )

/** Runs `action` while bounded load goes through nginx; then `version` must be served. */
async function underLoad(
  demo: Demo,
  title: string,
  version: string,
  action: () => Promise<boolean>,
): Promise<boolean> {
  heading(title)
  const url = `http://${demo.host.address}/`
  const load = startLoad({ urls: [url], slowClients: 1, slowMs: 2000, maxDurationMs: 60_000 })
  info(`load running against ${url} (keep-alive, new-connection and 2 s slow clients)`)
  let succeeded: boolean
  let report: LoadReport
  try {
    succeeded = await action()
  } finally {
    report = await load.stop()
  }
  info(`load: ${formatLoadReport(report).replace(/\n/g, '\n    ')}`)
  if (report.failed === 0) {
    good(`✓ 0 failed requests out of ${report.requests}`)
  } else {
    demo.failed = true
    bad(`✗ ${report.failed} failed requests out of ${report.requests}`)
  }
  return succeeded && (await expectServed(demo, version))
}

/** Deploys the sample app as `version` with the built action. */
function deploy(demo: Demo, version: string): Promise<boolean> {
  return run(demo, version, deployInputs(demo.lab, [demo.host], makeRelease(version), { version }))
}

/** Runs the built action; on failure prints its log. */
async function run(demo: Demo, what: string, inputs: Record<string, string>): Promise<boolean> {
  const started = Date.now()
  const result = await runAction(inputs)
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  demo.summary = result.main.summary
  const out = result.main.outputs
  if (result.main.exitCode === 0 && result.post.exitCode === 0) {
    const previous = out['previous-version']
      ? ` (was ${out['previous-slot']} = ${out['previous-version']})`
      : ''
    good(
      `✓ ${out.status ?? 'deployed'} ${out.version ?? what} in ${seconds} s: live slot ${out['live-slot']}${previous}`,
    )
    return true
  }
  demo.failed = true
  bad(`✗ ${what} failed after ${seconds} s; the action's log:`)
  printLog(result)
  return false
}

function printLog(run: ActionRun): void {
  const steps = [['main', run.main]] as const
  const all = run.post.exitCode === 0 ? steps : [...steps, ['post', run.post] as const]
  for (const [name, result] of all) {
    console.log(dim(`    --- ${name} step (exit ${result.exitCode}) ---`))
    const lines = result.log
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::') && !l.startsWith('::debug::'))
    console.log(lines.map((l) => `    ${l}`).join('\n'))
  }
}

async function expectServed(demo: Demo, version: string): Promise<boolean> {
  const served = await servedVersion(demo.host)
  const line = `curl http://${demo.host.address}/version → ${served}`
  if (served === version) {
    info(line)
    return true
  }
  demo.failed = true
  bad(`${line} (expected ${version})`)
  return false
}

/** The job summary is markdown; the mermaid diagram only makes sense rendered on GitHub. */
function printSummary(summary: string): void {
  heading('job summary (what the run page on GitHub shows)')
  const text = summary
    .replace(/```mermaid\n[\s\S]*?```\n?/g, '_(mermaid diagram: rendered on the run page)_\n')
    .trimEnd()
  console.log(text)
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    console.error(red(`error: ${error instanceof Error ? error.message : String(error)}`))
    await lab?.stop()
    process.exit(1)
  },
)
