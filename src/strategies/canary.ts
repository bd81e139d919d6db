/**
 * Canary: the new version takes a growing share of the traffic while the action watches it, and
 * is promoted only when every step passed.
 *
 * By traffic (default): the new version starts on each host's idle slot; for each `canary-weight`
 * step below 100, nginx on every host gets both slots with weights (the new one the step's
 * percent), and the step bakes (src/canary/bake.ts). 100 is the promotion: the same
 * all-or-nothing switch, drain and stop as blue-green. An abort puts all traffic back on the old
 * slots and stops the new ones. Hosts that serve nothing yet (a first deploy) have nothing to
 * share: they switch at the promotion. With `watch`, the promotion is watched (canary/watch.ts).
 *
 * By hosts (`canary-hosts`): the first hosts switch fully (as a rolling batch), bake, and then the
 * others follow in batches of `batch-size`; an abort switches the canary hosts back.
 */
import * as core from '@actions/core'
import { bake } from '../canary/bake.js'
import { watchedHosts, watchThenRecord } from '../canary/watch.js'
import { bestEffort, onEachHost, type DeployContext } from '../deploy/context.js'
import type { HostDeploy } from '../deploy/host-deploy.js'
import {
  finish,
  hostsToDeploy,
  shipAndStart,
  stopNewSlots,
  switchTogether,
  workersOnly,
} from '../deploy/steps.js'
import { errorMessage } from '../common/errors.js'
import { batchSizeOf } from '../inputs/settings.js'
import { batches } from '../deploy/plan.js'
import { newWindow, type RunStatus } from '../report/model.js'
import { rollOut } from './rolling.js'

export async function canary(ctx: DeployContext): Promise<RunStatus> {
  const hosts = hostsToDeploy(ctx)
  if (hosts.length === 0) return workersOnly(ctx)
  return ctx.settings.canary.hosts === undefined ? byTraffic(ctx, hosts) : byHosts(ctx, hosts)
}

async function byTraffic(ctx: DeployContext, hosts: HostDeploy[]): Promise<RunStatus> {
  await shipAndStart(ctx, hosts)
  const sharing = hosts.filter((h) => h.plan.liveSlot !== null)
  if (sharing.length < hosts.length) {
    const fresh = hosts.filter((h) => !sharing.includes(h)).map((h) => h.name)
    core.info(
      `${fresh.join(', ')}: no previous version to share traffic with; switching at the promotion`,
    )
  }
  try {
    for (const weight of sharing.length === 0 ? [] : ctx.settings.canary.weights.slice(0, -1)) {
      core.info(`Canary: ${weight}% of the traffic to ${ctx.version}`)
      await onEachHost(
        ctx,
        'switch',
        sharing,
        async (h) => {
          await h.installUpstream(h.plan.targetSlot, weight)
          return `upstream ${weight}% -> ${h.plan.targetSlot}, config test passed`
        },
        'nginx config',
      )
      await onEachHost(
        ctx,
        'switch',
        sharing,
        async (h) => {
          await h.reloadAndVerify(h.plan.targetSlot, weight)
          return `${weight}% of the requests go to ${h.plan.targetSlot}`
        },
        'nginx reload',
      )
      await bake(ctx, sharing, `${weight}%`, weight)
    }
  } catch (error) {
    throw await abort(ctx, hosts, sharing, error)
  }
  await switchTogether(ctx, hosts, watchedHosts(ctx, hosts))
  ctx.canarySteps.push({ ...newWindow('100%'), verdict: 'promoted' })
  await watchThenRecord(ctx, hosts)
  return finish(ctx, hosts)
}

/**
 * All traffic back to the old slots, then the new slots drained (what nginx's old workers still
 * finish there, bounded by drain-timeout) and stopped, except where nginx could not be put back:
 * there the new slot keeps running, so that nothing nginx sends to it fails.
 */
async function abort(
  ctx: DeployContext,
  hosts: HostDeploy[],
  sharing: HostDeploy[],
  error: unknown,
): Promise<Error> {
  const back = await bestEffort(
    ctx.logs,
    'canary abort: traffic back to the old version',
    sharing,
    (h) => h.backToLiveSlot(),
  )
  const stuck = sharing.filter((h) => !back.includes(h))
  await stopNewSlots(
    ctx,
    hosts.filter((h) => !stuck.includes(h)),
  )
  const serving = [...new Set(sharing.map((h) => h.plan.liveVersion))].join(', ')
  const outcome =
    stuck.length === 0
      ? `All traffic is back on the previous version (${serving}); the new slots were drained and stopped.`
      : `nginx could not be put back on ${stuck.map((h) => h.name).join(', ')}: there the new version still takes its share and keeps running. The post step tries again; if it cannot either, fix nginx (see the warnings) and rerun the deploy.`
  return new Error(`Canary aborted: ${errorMessage(error)}\n${outcome}`, { cause: error })
}

async function byHosts(ctx: DeployContext, hosts: HostDeploy[]): Promise<RunStatus> {
  const amount = ctx.settings.canary.hosts!
  const count = batchSizeOf(amount, ctx.hosts.length)
  const first = hosts.slice(0, count)
  const rest = batches(
    hosts.slice(count),
    batchSizeOf(ctx.settings.rolling.batchSize, ctx.hosts.length),
  )
  const share = Math.round((100 * first.length) / ctx.hosts.length)
  const status = await rollOut(ctx, hosts, [first, ...rest], (group) =>
    bake(ctx, group, `${group.length} of ${ctx.hosts.length} host(s)`, share),
  )
  ctx.canarySteps.push({ ...newWindow('all hosts'), verdict: 'promoted' })
  return status
}
