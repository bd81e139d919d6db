/** Orchestration only: read inputs, run the phases, report. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as core from '@actions/core'
import type { Strategy } from './deploy/context.js'
import { Journal } from './deploy/journal.js'
import { runDeploy } from './deploy/run.js'
import { cleanup } from './post/cleanup.js'
import { dryRun } from './dry-run/dry-run.js'
import { errorMessage } from './common/errors.js'
import type { Settings } from './inputs/settings.js'
import { formatDuration, HostLogs, info, printable, runHeadline, warning } from './report/log.js'
import { resolveVersion } from './deploy/plan.js'
import { dryRunHostsOutput, dryRunSummary, planLines } from './report/dry-run.js'
import { GitHubDeployment } from './report/deployments.js'
import { runOutputs } from './report/outputs.js'
import { renderSummary } from './report/summary.js'
import { blueGreen } from './strategies/blue-green.js'
import { canary } from './strategies/canary.js'
import { rollback } from './strategies/rollback.js'
import { reload } from './strategies/reload.js'
import { rolling } from './strategies/rolling.js'
import { readSettings } from './inputs/read-settings.js'

/** Saved by the main step; the post step (same bundle) sees it and cleans up instead. */
const POST_MARKER = 'isPost'
/** The run's journal of half-done changes, for the post step. */
const JOURNAL = 'journal'
/** The run's temp dir (the packed release), for the post step to remove if the main step died. */
const TEMP_DIR = 'tempDir'

export async function run(): Promise<void> {
  if (core.getState(POST_MARKER) === 'true') return runPost()
  core.saveState(POST_MARKER, 'true')
  try {
    const settings = readSettings()
    const version = resolveVersion(settings.app.version, process.env.GITHUB_SHA)
    core.setOutput('version', version)
    if (settings.ssh.insecureIgnoreHostKey) {
      core.warning(
        'insecure-ignore-host-key is true: host keys are NOT verified, so anyone on the network path ' +
          'can impersonate your hosts and receive the release and its secrets. Set known-hosts instead.',
      )
    }
    if (settings.dryRun) await runDryRun(settings, version)
    else await deploy(settings, version)
  } catch (error) {
    core.setOutput('status', 'failed')
    core.setFailed(printable(errorMessage(error)))
  }
}

async function runDryRun(settings: Settings, version: string): Promise<void> {
  const logs = new HostLogs()
  core.info(`Dry run: checking ${settings.hosts.length} host(s); nothing will be changed.`)
  const checks = await dryRun(settings, version, logs)
  for (const check of checks) {
    core.startGroup(`plan: ${check.host}`)
    planLines(check, settings.nginx.upstreamFile).forEach((line) => core.info(line))
    core.endGroup()
    check.warnings?.forEach((w) => warning(`[${check.host}] ${w}`))
  }
  core.setOutput('hosts', dryRunHostsOutput(checks))
  await core.summary.addRaw(dryRunSummary(checks, version)).write()
  const problems = checks.flatMap((c) => c.problems.map((p) => `[${c.host}] ${p}`))
  if (problems.length > 0) {
    core.setOutput('status', 'failed')
    core.setFailed(
      printable(`Dry run found ${problems.length} problem(s):\n${problems.join('\n')}`),
    )
    return
  }
  core.setOutput('status', 'planned')
  core.info(`Dry run: all ${checks.length} host(s) are ready.`)
}

async function deploy(settings: Settings, version: string): Promise<void> {
  const strategy = strategyFor(settings)
  const runUrl = runUrlOf(process.env)
  const deployment = await startDeployment(settings, version, runUrl)
  const tempDir = mkdtempSync(join(process.env.RUNNER_TEMP ?? tmpdir(), 'deploy-'))
  core.saveState(TEMP_DIR, tempDir)
  info(
    runHeadline({
      app: settings.app.name,
      version,
      hosts: settings.hosts.map((h) => h.label),
      strategy: settings.strategy,
      rollback: settings.rollback.enabled,
    }),
  )
  const report = await runDeploy(settings, version, strategy, new HostLogs(), {
    workspace: process.env.GITHUB_WORKSPACE ?? process.cwd(),
    tempDir,
    runUrl,
    actor: process.env.GITHUB_ACTOR ?? '',
    journal: new Journal((text) => core.saveState(JOURNAL, text)),
  }).finally(() => removeTempDir(tempDir))
  if (deployment) {
    report.deploymentId = deployment.id
    const description = `${report.status}: ${settings.app.name} ${report.version} on ${report.hosts.length} host(s)`
    await deployment
      .finish(report.status === 'failed' ? 'failure' : 'success', description)
      .catch((error: unknown) => core.warning(errorMessage(error)))
  }
  for (const [name, value] of Object.entries(runOutputs(report))) core.setOutput(name, value)
  await core.summary.addRaw(renderSummary(report)).write()
  const took = formatDuration(report.endedAt - report.startedAt)
  if (report.status === 'failed') {
    info(`failed after ${took}; ${TRANSCRIPT_HINT}`)
    core.setFailed(printable(report.error ?? 'deploy failed'))
  } else info(`${report.status}: ${settings.app.name} ${report.version} in ${took}`)
}

const TRANSCRIPT_HINT =
  'every remote command and its output is in the debug log (re-run the job with debug logging)'

/** With `environment` set: a GitHub Deployment, in progress until the run ends. */
async function startDeployment(
  settings: Settings,
  version: string,
  runUrl: string,
): Promise<GitHubDeployment | undefined> {
  const { environment, url, token } = settings.github
  if (!environment) return undefined
  const what = settings.rollback.enabled ? 'rollback' : `deploy ${version}`
  return GitHubDeployment.start(
    {
      token,
      apiUrl: process.env.GITHUB_API_URL ?? 'https://api.github.com',
      repository: process.env.GITHUB_REPOSITORY ?? '',
      ref: process.env.GITHUB_SHA ?? version,
      environment,
      url,
      logUrl: runUrl,
    },
    { app: settings.app.name, version, description: `${what} of ${settings.app.name}` },
  )
}

/** The strategy to run (a batch-size that would empty the load balancer is an input problem). */
function strategyFor(settings: Settings): Strategy {
  if (settings.rollback.enabled) return rollback
  const strategies: Record<Settings['strategy'], Strategy> = {
    'blue-green': blueGreen,
    rolling,
    canary,
    reload,
  }
  return strategies[settings.strategy]
}

function runUrlOf(env: NodeJS.ProcessEnv): string {
  const { GITHUB_SERVER_URL, GITHUB_REPOSITORY, GITHUB_RUN_ID } = env
  if (!GITHUB_REPOSITORY || !GITHUB_RUN_ID) return ''
  return `${GITHUB_SERVER_URL ?? 'https://github.com'}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID}`
}

/** Post step: repairs what a main step that died mid-run left half-done (see src/post/cleanup.ts). */
async function runPost(): Promise<void> {
  removeTempDir(core.getState(TEMP_DIR))
  const journal = core.getState(JOURNAL)
  if (!journal) return
  try {
    await cleanup(readSettings(), journal, runUrlOf(process.env))
  } catch (error) {
    core.setFailed(printable(errorMessage(error)))
  }
}

/** Self-hosted runners keep RUNNER_TEMP between jobs: the release archive must not pile up there. */
function removeTempDir(dir: string): void {
  if (!dir) return
  try {
    rmSync(dir, { recursive: true, force: true })
  } catch (error) {
    core.warning(`could not remove the temp dir ${dir}: ${errorMessage(error)}`)
  }
}
