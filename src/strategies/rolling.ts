/**
 * Rolling: hosts move in batches (`batch-size`), each batch doing the per-host blue-green swap.
 * With a load balancer, a batch is taken out of it first and put back after. A failed batch stops
 * the rollout; with `on-failure: rollback` the batches that already switched swap back to their
 * previous slot, which is kept running until the whole rollout succeeded, so this is instant.
 */
import * as core from '@actions/core'
import { CanaryAborted, ReleaseRejected } from '../canary/bake.js'
import { WatchBreached, watchedHosts, watchThenRecord } from '../canary/watch.js'
import { bestEffort, onEachHost, type DeployContext } from '../deploy/context.js'
import type { HostDeploy } from '../deploy/host-deploy.js'
import {
  finish,
  hostsToDeploy,
  shipAndMigrate,
  startNewSlots,
  stopNewSlots,
  switchTogether,
  workersOnly,
} from '../deploy/steps.js'
import { timed } from '../deploy/timing.js'
import { errorMessage } from '../common/errors.js'
import { batchSizeOf } from '../inputs/settings.js'
import { batches } from '../deploy/plan.js'
import type { RunStatus } from '../report/model.js'

export async function rolling(ctx: DeployContext): Promise<RunStatus> {
  const hosts = hostsToDeploy(ctx)
  if (hosts.length === 0) return workersOnly(ctx)
  return rollOut(
    ctx,
    hosts,
    batches(hosts, batchSizeOf(ctx.settings.rolling.batchSize, ctx.hosts.length)),
  )
}

/**
 * Ships to every host, then switches the groups one after the other. `bakeFirst` (canary by hosts)
 * runs once the first group switched; with `watch`, each group is watched once it switched (and
 * baked), before the next. When the bake or a watch rejects the release (CanaryAborted,
 * WatchBreached), every switched host goes back whatever on-failure says.
 */
export async function rollOut(
  ctx: DeployContext,
  hosts: HostDeploy[],
  groups: HostDeploy[][],
  bakeFirst?: (group: HostDeploy[]) => Promise<void>,
): Promise<RunStatus> {
  await shipAndMigrate(ctx, hosts)
  const switched: HostDeploy[] = []
  try {
    for (const [index, batch] of groups.entries()) {
      batch.forEach((h) => (h.report.batch = index + 1))
      core.info(`Batch ${index + 1} of ${groups.length}: ${batch.map((h) => h.name).join(', ')}`)
      await switchBatch(ctx, batch, () => switched.push(...batch))
      if (index === 0 && bakeFirst) await bakeFirst(batch)
      await watchThenRecord(ctx, batch, groups.length === 1 ? 'watch' : `batch ${index + 1}`)
    }
  } catch (error) {
    throw await afterFailedBatch(ctx, hosts, switched, error)
  }
  return finish(ctx, hosts)
}

/**
 * One batch: new slots started, then the switch (behind a load balancer: taken out of it first
 * and put back after; the watch, if any, comes once it is back). `switched` is called once the
 * batch's hosts serve the new version, before the put back, whose failure then finds them
 * switched.
 */
async function switchBatch(
  ctx: DeployContext,
  batch: HostDeploy[],
  switched: () => void,
): Promise<void> {
  await startNewSlots(ctx, batch)
  const unrecorded = watchedHosts(ctx, batch)
  const lb = ctx.loadBalancer
  if (!lb) {
    await switchTogether(ctx, batch, unrecorded)
    switched()
    return
  }
  let failed = true
  try {
    await timed(ctx.phases, 'lb-out', () => lb.route(batch.map((h) => h.host.address)))
    const port = ctx.settings.rolling.lbBackendPort
    await onEachHost(ctx, 'drain', batch, async (h) => {
      const drain = await h.waitIdle(port)
      if (!drain.idle)
        ctx.logs.warning(
          `[${h.name}] ${drain.open} connection(s) from the load balancer were still open after drain-timeout`,
        )
    })
    await switchTogether(ctx, batch, unrecorded)
    switched()
    failed = false
  } finally {
    if (failed) await stopNewSlots(ctx, batch)
    const putBack = timed(ctx.phases, 'lb-in', () => lb.route([]))
    // After a failure, the first error is the one to report; a put-back failure is a warning.
    if (failed)
      await putBack.catch((e: unknown) => ctx.logs.warning(`[${lb.name}] ${errorMessage(e)}`))
    else await putBack
  }
}

/**
 * Rolls the switched hosts back (or leaves them), and says exactly which host runs what. A canary
 * bake or a watch that rejected the release reverts them whatever on-failure says (a watch has
 * switched back its own batch already), and the version counts as never live there; any other
 * failure leaves it live where it served (see HostDeploy.switchBack).
 */
async function afterFailedBatch(
  ctx: DeployContext,
  hosts: HostDeploy[],
  switched: HostDeploy[],
  error: unknown,
): Promise<Error> {
  const reason = errorMessage(error)
  if (switched.length === 0)
    return new Error(`${reason}\nNo batch had switched: every host serves its previous version.`)
  const rejected = error instanceof ReleaseRejected
  const revertedBecause =
    error instanceof WatchBreached
      ? 'watch breached'
      : error instanceof CanaryAborted
        ? 'canary aborted'
        : ctx.settings.rolling.onFailure === 'rollback'
          ? 'on-failure: rollback'
          : undefined
  if (revertedBecause !== undefined) {
    const back = switched.filter((h) => h.report.outcome !== 'reverted')
    await bestEffort(ctx.logs, 'roll back switched batches', back, (h) => h.switchBack(!rejected))
  }
  const lines = hosts.map(
    (h) => `  ${h.name}: ${h.report.liveVersion ?? 'nothing'} (${h.report.outcome})`,
  )
  const what =
    revertedBecause === undefined
      ? `on-failure is stop: the fleet is left on mixed versions.`
      : `The ${switched.length} host(s) that had switched were rolled back (${revertedBecause}).`
  return new Error(`${reason}\n${what} Hosts now serve:\n${lines.join('\n')}`, { cause: error })
}
