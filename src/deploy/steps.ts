/**
 * The fleet-level steps every strategy is made of. Each runs on the hosts it is given, in
 * parallel (bounded by max-parallel), timed per host, with a log line per phase and host saying
 * what it did (see onEachHost).
 */
import * as core from '@actions/core'
import { errorMessage } from '../common/errors.js'
import { step } from '../report/log.js'
import { formatBytes } from '../release/prepare.js'
import type { ReleaseArchive } from '../release/index.js'
import type { RunStatus } from '../report/model.js'
import {
  bestEffort,
  inTurnOnEachHost,
  onEachHost,
  type DeployContext,
  type HostPhase,
} from './context.js'
import type { HostDeploy } from './host-deploy.js'
import { runSmoke, withPreviewUrls } from './preview.js'
import { timed } from './timing.js'

/** The release a deploy ships (every strategy but rollback has one). */
export function releaseOf(ctx: DeployContext): ReleaseArchive {
  if (!ctx.archive) throw new Error('internal: this strategy needs a packed release')
  return ctx.archive
}

/**
 * Web hosts that need this release; those (and worker hosts) already running it are marked
 * unchanged. Empty when no web host needs it (see workersOnly for the worker hosts then).
 */
export function hostsToDeploy(ctx: DeployContext): HostDeploy[] {
  const archive = releaseOf(ctx)
  const all = [...ctx.hosts, ...ctx.workerHosts]
  const unchanged = all.filter((h) => h.isUnchanged(archive))
  unchanged.forEach((h) => (h.report.outcome = 'unchanged'))
  if (unchanged.length === all.length) {
    core.info(`Every host already serves ${ctx.version}: nothing to do.`)
  }
  return ctx.hosts.filter((h) => !unchanged.includes(h))
}

/**
 * A run whose web hosts all run the release already: the worker hosts that do not get it and
 * their workers; 'unchanged' when there are none.
 */
export async function workersOnly(ctx: DeployContext): Promise<RunStatus> {
  if (workerHostsToDeploy(ctx).length === 0) return 'unchanged'
  await shipAndMigrate(ctx, [])
  return finish(ctx, [])
}

/** Worker hosts this run moves (those already running the release are marked unchanged). */
export function workerHostsToDeploy(ctx: DeployContext): HostDeploy[] {
  return ctx.workerHosts.filter((h) => h.report.outcome !== 'unchanged')
}

/**
 * Ship and install the release with shared/.env (one round trip), on the web hosts and the worker
 * hosts; then the expand migration, once.
 */
export async function shipAndMigrate(ctx: DeployContext, hosts: HostDeploy[]): Promise<void> {
  await onEachHost(ctx, 'ship', [...hosts, ...workerHostsToDeploy(ctx)], shipStep(ctx))
  await runOnce(ctx, 'migrate', ctx.settings.app.migrateCommand, hosts)
}

/**
 * Ship, start, health and smoke test (startNewSlots) on the hosts. Without a migrate-command each
 * host starts as soon as it has shipped, without waiting for the slowest host's upload: at real
 * round-trip times waiting dominates, and only the switch has to wait for every host. With one,
 * every host ships, the migration runs, and only then does any new code start.
 */
export async function shipAndStart(ctx: DeployContext, hosts: HostDeploy[]): Promise<void> {
  if (ctx.settings.app.migrateCommand) {
    await shipAndMigrate(ctx, hosts)
    await startNewSlots(ctx, hosts)
  } else {
    // The worker hosts first: their ship failing must not leave new slots started.
    await onEachHost(ctx, 'ship', workerHostsToDeploy(ctx), shipStep(ctx))
    await startNewSlots(ctx, hosts, [{ phase: 'ship', step: shipStep(ctx) }])
  }
}

/** The ship of one host, saying what it did. */
function shipStep(ctx: DeployContext): (h: HostDeploy) => Promise<string> {
  const archive = releaseOf(ctx)
  return async (h) => {
    const shipped = await h.ship(archive)
    if (shipped === 'already there') return `${ctx.version} already on the host`
    const how = shipped === 'replaced' ? 'replaced (it never went live)' : 'uploaded'
    return `${ctx.version} ${how} (${formatBytes(archive.bytes)}) and extracted`
  }
}

/**
 * Starts the new version on each host's idle slot, waits until all are healthy, runs the smoke
 * test against them. On failure the new slots are stopped again. Per host, start and health are
 * one command (the health loop runs on the host right after the start): the start phase ends
 * once the slot started, the health phase once the loop reported. `before`: phases each host
 * runs first, in turn with these (see inTurnOnEachHost).
 */
export async function startNewSlots(
  ctx: DeployContext,
  hosts: HostDeploy[],
  before: HostPhase<HostDeploy>[] = [],
): Promise<void> {
  try {
    await inTurnOnEachHost(ctx, hosts, [
      ...before,
      {
        phase: 'start',
        step: async (h) => {
          await h.startNewSlot()
          return startedNote(h)
        },
      },
      { phase: 'health', step: async (h) => healthyNote(await h.waitHealthy()) },
    ])
    if (ctx.settings.app.smokeCommand) {
      const targets = hosts.map((h) => ({ host: h.host, port: h.plan.targetPort }))
      await timed(ctx.phases, 'smoke', () =>
        step('smoke-command', () =>
          withPreviewUrls(targets, (urls) =>
            runSmoke(ctx.settings.app.smokeCommand, urls, ctx.version),
          ),
        ),
      )
    }
  } catch (error) {
    await stopNewSlots(ctx, hosts)
    throw error
  }
}

export async function stopNewSlots(ctx: DeployContext, hosts: HostDeploy[]): Promise<void> {
  await bestEffort(ctx.logs, 'stop new slots', hosts, (h) => h.stopNewSlot())
}

/**
 * The switch, all given hosts or none. One host: one exec (the switch script) rechecks that the
 * target slot still runs and is healthy, installs the new upstream file, tests nginx, reloads,
 * verifies and records. Several: the first half (recheck, install, test) on every host, then the
 * second (reload, verify, record) on every host. A failure at any point puts every host's
 * previous upstream back (reloading where it was live) and its previous state, and stops the new
 * slots (each drains first where nginx had already sent it traffic). `unrecorded`: hosts whose
 * record waits for the watch (canary/watch.ts); they serve the new version all the same.
 */
export async function switchTogether(
  ctx: DeployContext,
  hosts: HostDeploy[],
  unrecorded: HostDeploy[] = [],
): Promise<void> {
  const record = (h: HostDeploy) => !unrecorded.includes(h)
  const serves = (h: HostDeploy) =>
    record(h) ? `${h.version} is live` : `${h.version} serves, watched before it is recorded`
  let reloaded = false
  try {
    if (hosts.length === 1) {
      reloaded = true
      await onEachHost(ctx, 'switch', hosts, async (h) => {
        await h.switchToNewSlot('all', record(h))
        return `upstream -> ${h.plan.targetSlot} (port ${h.plan.targetPort}), ${serves(h)}`
      })
    } else {
      await onEachHost(ctx, 'switch', hosts, installStep, 'nginx config')
      reloaded = true
      await onEachHost(
        ctx,
        'switch',
        hosts,
        async (h) => {
          await h.switchToNewSlot('activate', record(h))
          return `requests through nginx reach ${h.plan.targetSlot}; ${serves(h)}`
        },
        'nginx reload',
      )
    }
  } catch (error) {
    await bestEffort(ctx.logs, 'revert switch', hosts, async (h) => {
      await h.restoreUpstream(reloaded)
      // A host that recorded its switch served the new version: it counts as live.
      await h.revertRecord(true)
    })
    await stopNewSlots(ctx, hosts)
    throw error
  }
}

/**
 * After every host switched: the release's workers start (on the worker hosts too; see
 * startWorkers), then wait for in-flight requests to the old slots, stop them (unless
 * keep-previous is warm, or there is no old slot), stop the previous release's workers, prune old
 * releases, run the contract step once. Per host, drain, stop, the state.json write, the
 * workers' stop and the prune are one command, whose parts the drain, stop-old and record phases
 * wait on in turn.
 */
export async function finish(
  ctx: DeployContext,
  hosts: HostDeploy[],
  status: RunStatus = 'deployed',
  /**
   * The hosts whose old slot is retired (all; for the reload strategy only those that switched
   * slots instead of reloading the live one).
   */
  retiring: HostDeploy[] = hosts,
): Promise<RunStatus> {
  const workerHosts = workerHostsToDeploy(ctx)
  await startWorkers(ctx, hosts, workerHosts)
  if (retiring.length > 0 && ctx.settings.slots.keepPrevious === 'stop') {
    // On drain-timeout drainOldSlot warns, and the old slot is stopped anyway.
    await onEachHost(ctx, 'drain', retiring, async (h) => {
      const drain = await h.drainOldSlot()
      if (!drain.idle) return `drain-timeout reached, ${drain.open} connection(s) still open`
      return h.plan.liveSlot === null ? 'no old slot' : `${h.plan.liveSlot} slot idle`
    })
    await onEachHost(ctx, 'stop-old', retiring, async (h) => {
      await h.stopOldSlot()
      return h.plan.liveSlot === null ? 'no old slot' : `${h.plan.liveSlot} slot stopped`
    })
  }
  // The contract step belongs to a forward deploy; a rollback must not drop what it needs.
  if (status === 'deployed') {
    await runOnce(ctx, 'post-deploy', ctx.settings.app.postDeployCommand, hosts)
  }
  await onEachHost(
    ctx,
    'record',
    [...hosts, ...workerHosts],
    async (h) => prunedNote(await h.pruneReleases()),
    'prune releases',
  )
  return status
}

/**
 * The release's workers start on every host that runs them, once the new version is live on the
 * web hosts (the previous release's stop later, in the finish block). When any fails to start,
 * the ones started stop again and the previous ones keep running; with `on-failure: rollback`
 * the web hosts that switched go back to their previous slot (still running), with `stop` they
 * stay on the new version. The run fails either way.
 */
async function startWorkers(
  ctx: DeployContext,
  hosts: HostDeploy[],
  workerHosts: HostDeploy[],
): Promise<void> {
  const all = [...hosts, ...workerHosts]
  const withWorkers = all.filter((h) => (h.target.commands?.workers ?? []).length > 0)
  all.filter((h) => !withWorkers.includes(h)).forEach((h) => (h.target.workers = null))
  try {
    await onEachHost(ctx, 'workers', withWorkers, async (h) => {
      await h.workers.startNew()
      return `${(h.target.commands?.workers ?? []).map((w) => w.name).join(', ')} up (${h.version})`
    })
  } catch (error) {
    const started = withWorkers.filter((h) => h.target.workers)
    await bestEffort(ctx.logs, 'stop the new workers', started, (h) => h.workers.stopNew())
    const back =
      ctx.settings.rolling.onFailure === 'rollback' ? hosts.filter((h) => h.canSwitchBack) : []
    // The new version served, and is not found wanting: it counts as live there.
    await bestEffort(ctx.logs, 'switch back', back, (h) => h.switchBack(true))
    const web =
      back.length > 0
        ? `${back.length} web host(s) switched back to their previous version (on-failure: rollback).`
        : hosts.length > 0
          ? 'The web hosts stay on the new version (on-failure: stop); the previous workers keep running.'
          : 'The previous workers keep running.'
    throw new Error(`${errorMessage(error)}\n${web}`, { cause: error })
  }
}

/** migrate / post-deploy: once per run, on the first host, from the new release. */
async function runOnce(
  ctx: DeployContext,
  phase: 'migrate' | 'post-deploy',
  command: string,
  hosts: HostDeploy[],
): Promise<void> {
  const first = hosts[0]
  if (!command || !first) return
  await timed(ctx.phases, phase, () =>
    step(`[${first.name}] ${phase}`, () => first.runInRelease(command, phase)),
  )
}

/** The first barrier of a switch across hosts, saying what it did. */
async function installStep(h: HostDeploy): Promise<string> {
  await h.switchToNewSlot('install')
  return `${h.plan.targetSlot} slot still healthy; upstream -> ${h.plan.targetSlot} (port ${h.plan.targetPort}), config test passed`
}

/** `v2 started on the green slot (port 3002)` */
export function startedNote(h: HostDeploy): string {
  return `${h.version} started on the ${h.plan.targetSlot} slot (port ${h.plan.targetPort})`
}

export function healthyNote(checks: number): string {
  return `healthy after ${checks} check${checks === 1 ? '' : 's'}`
}

function prunedNote(pruned: string[]): string {
  return pruned.length === 0 ? 'nothing to prune' : `removed ${pruned.join(', ')}`
}
