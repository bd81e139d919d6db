/**
 * Rollback: every host back to an earlier release from its own history (`rollback-to`, or the
 * one before the live one). Instant when that release still runs warm on the idle slot; else it
 * starts there from releases/ and must pass its health check. Then the same all-or-nothing switch
 * as a deploy, and the old slots drain and stop. Nothing is built or shipped; the contract step
 * (post-deploy-command) does not run.
 */
import type { DeployContext } from '../deploy/context.js'
import { onEachHost } from '../deploy/context.js'
import type { HostDeploy } from '../deploy/host-deploy.js'
import { finish, healthyNote, startedNote, stopNewSlots, switchTogether } from '../deploy/steps.js'
import type { RunStatus } from '../report/model.js'

export async function rollback(ctx: DeployContext): Promise<RunStatus> {
  const toVersion = ctx.settings.rollback.toVersion
  const hosts: HostDeploy[] = []
  await onEachHost(
    ctx,
    'start',
    ctx.hosts,
    async (h) => {
      const live = h.plan.liveVersion
      if (h.planRollback(toVersion)) hosts.push(h)
      else h.report.outcome = 'unchanged'
      return h.version === live ? `already on ${live}` : `${live ?? 'nothing'} -> ${h.version}`
    },
    'plan rollback',
  )
  if (hosts.length === 0) return 'unchanged'
  const started: HostDeploy[] = []
  try {
    await onEachHost(ctx, 'start', hosts, async (h) => {
      if (!(await h.startUnlessWarm()))
        return `${h.version} still runs warm on ${h.plan.targetSlot}`
      started.push(h)
      return startedNote(h)
    })
    await onEachHost(ctx, 'health', started, async (h) => healthyNote(await h.waitHealthy()))
  } catch (error) {
    await stopNewSlots(ctx, hosts)
    throw error
  }
  await switchTogether(ctx, hosts)
  hosts.forEach((h) => (h.report.outcome = 'rolled-back'))
  return finish(ctx, hosts, 'rolled-back')
}
