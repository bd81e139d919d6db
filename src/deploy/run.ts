/**
 * One deploy run, strategy-independent: build the release, connect, lock, read every host's
 * state, hand over to the strategy, and always release the locks. Returns what happened.
 */
import * as core from '@actions/core'
import { errorMessage } from '../common/errors.js'
import { usesLoadBalancer, type Settings } from '../inputs/settings.js'
import { info, step, type HostLogs } from '../report/log.js'
import { foldersMissing, prepareRelease, runBuild, type ReleaseArchive } from '../release/index.js'
import { emptyHostReport, type HostRole, type RunReport } from '../report/model.js'
import { Fleet } from '../ssh/fleet.js'
import { bestEffort, onEachHost, type DeployContext, type Strategy } from './context.js'
import { warnAssetClashes } from './assets.js'
import { HostDeploy } from './host-deploy.js'
import { HostSession } from './host-session.js'
import type { Journal } from './journal.js'
import { LoadBalancer } from './load-balancer.js'
import { lockHolder } from './lock.js'
import { restoreEnv } from './ship.js'
import { timed } from './timing.js'

export interface RunEnvironment {
  /** Workspace the build runs in and release-path is relative to. */
  workspace: string
  /** Scratch dir for the packed release. */
  tempDir: string
  runUrl: string
  /** Who started the run (GITHUB_ACTOR), named in the lock. */
  actor: string
  /** Where the journal goes (core.saveState), for the post step. */
  journal: Journal
}

export async function runDeploy(
  settings: Settings,
  version: string,
  strategy: Strategy,
  logs: HostLogs,
  env: RunEnvironment,
): Promise<RunReport> {
  const report: RunReport = {
    status: 'failed',
    strategy: settings.strategy,
    app: settings.app.name,
    version,
    previousVersion: null,
    liveSlot: null,
    previousSlot: null,
    hosts: [
      ...settings.hosts.map((h) => emptyHostReport(h.label)),
      ...settings.workers.hosts.map((h) => emptyHostReport(h.label, 'worker')),
    ],
    phases: [],
    canarySteps: [],
    watches: [],
    startedAt: Date.now(),
    endedAt: 0,
    url: settings.github.url,
    runUrl: env.runUrl,
    ...(settings.rollback.enabled ? { rollbackTo: settings.rollback.toVersion } : {}),
  }
  let fleet: Fleet | undefined
  let sessions: HostSession[] = []
  let hosts: HostDeploy[] = []
  let workerHosts: HostDeploy[] = []
  let loadBalancer: LoadBalancer | undefined
  const ctx = (archive: ReleaseArchive | undefined): DeployContext => ({
    settings,
    version,
    archive,
    hosts,
    workerHosts,
    loadBalancer,
    phases: report.phases,
    canarySteps: report.canarySteps,
    watches: report.watches,
    logs,
  })
  try {
    // A rollback switches to releases already on the hosts: nothing to build or ship.
    const archive = settings.rollback.enabled
      ? undefined
      : await timed(report.phases, 'build', () => buildRelease(settings, env))
    const count = settings.hosts.length + settings.workers.hosts.length
    fleet = await timed(report.phases, 'connect', () =>
      step(
        'connect',
        () =>
          Fleet.connect(settings, {
            loadBalancer: usesLoadBalancer(settings) ? settings.rolling.loadBalancer : undefined,
            logFor: (host) => logs.sinkFor(host),
          }),
        () => (count === 1 ? settings.hosts[0]!.label : `${count} hosts`),
      ),
    )
    sessions = [
      ...fleet.hosts.map((host) => new HostSession(host, settings, env.journal, version)),
      ...fleet.workerHosts.map(
        (host) => new HostSession(host, settings, env.journal, version, 'worker'),
      ),
    ]
    report.hosts = sessions.map((s) => s.report)
    if (fleet.loadBalancer) {
      loadBalancer = new LoadBalancer(fleet.loadBalancer, settings, settings.hosts)
    }
    const holder = lockHolder(env.runUrl, env.actor)
    const loaded = new Map<HostSession, HostDeploy>()
    await timed(report.phases, 'lock', async () => {
      await loadBalancer?.prepare(holder)
      await onEachHost(
        ctx(archive),
        'lock',
        sessions,
        async (s) => {
          const h = await HostDeploy.lockAndLoad(s, holder)
          loaded.set(s, h)
          const { liveSlot, liveVersion } = h.plan
          if (s.role === 'worker') {
            return `locked; workers: ${h.state.workers?.version ?? 'none yet'}`
          }
          return `locked; live: ${liveSlot === null ? 'nothing yet' : `${liveVersion} on ${liveSlot}`}`
        },
        'lock and read state',
      )
    })
    const loadedOf = (role: HostRole) =>
      sessions.filter((s) => s.role === role).flatMap((s) => loaded.get(s) ?? [])
    hosts = loadedOf('web')
    workerHosts = loadedOf('worker')
    report.status = await strategy(ctx(archive))
  } catch (error) {
    report.status = 'failed'
    report.error = errorMessage(error)
    await takeBackAssetLinks(hosts, logs)
  } finally {
    await restoreEnvWhereNotLive(logs, sessions)
    await bestEffort(logs, 'release lock', sessions, (s) => s.releaseLock())
    await loadBalancer?.release().catch(() => {})
    fleet?.dispose()
    report.endedAt = Date.now()
  }
  warnAssetClashes(report.hosts)
  const first = report.hosts[0]
  if (settings.rollback.enabled) report.version = hosts[0]?.version ?? version
  report.previousVersion = first?.previousVersion ?? null
  report.previousSlot = first?.previousSlot ?? null
  report.liveSlot = first?.liveSlot ?? null
  return report
}

/**
 * asset-path after a failed run: when no host sent the new version traffic (no nginx reload to
 * its slot, no reload in place), no page of it exists, so the live releases give back the files
 * this run linked into them. Once one did, the links stay until pruning (browsers have its pages).
 */
async function takeBackAssetLinks(hosts: HostDeploy[], logs: HostLogs): Promise<void> {
  if (hosts.some((h) => h.nginx.newSlotServed || h.assets.reloaded)) return
  const linked = hosts.filter((h) => h.assets.intoLive)
  await bestEffort(logs, 'take back asset links', linked, (h) => h.assets.takeBack())
}

/**
 * Every failure path ends here: on each host where the run replaced shared/.env and its release
 * did not go live, the file from before comes back, still under the lock.
 */
async function restoreEnvWhereNotLive(logs: HostLogs, sessions: HostSession[]): Promise<void> {
  const replaced = sessions.filter(
    (s) => s.journal.has('env written') && !s.journal.has('recorded'),
  )
  await bestEffort(logs, 'restore shared/.env', replaced, async (s) => {
    if (await restoreEnv(s, s.journal.get('env written')!.token)) {
      info(`[${s.name}] shared/.env: put back as it was before the run (${s.version} is not live)`)
    }
  })
}

async function buildRelease(settings: Settings, env: RunEnvironment): Promise<ReleaseArchive> {
  if (settings.app.buildCommand) {
    core.startGroup('build')
    try {
      await runBuild(settings.app.buildCommand, env.workspace)
    } finally {
      core.endGroup()
    }
  }
  const archive = await prepareRelease({
    releasePath: settings.app.releasePath,
    artifactUrl: settings.app.artifactUrl,
    cwd: env.workspace,
    workDir: env.tempDir,
    exclude: settings.app.exclude,
    artifactSha256: settings.app.artifactSha256,
    artifactToken: settings.app.artifactToken,
  })
  const missing = await foldersMissing(archive.path, settings.app.assetPaths)
  if (missing.length > 0) {
    throw new Error(
      `Input 'asset-path': the release has no folder ${missing.map((f) => `'${f}'`).join(', ')} (${archive.source}; expected folders relative to the release's root, as the build leaves them). No host was touched.`,
    )
  }
  return archive
}
