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
import { inputCommands } from '../deploy/host-session.js'
import {
  finish,
  healthyNote,
  startedNote,
  stopNewSlots,
  switchTogether,
  workerHostsToDeploy,
} from '../deploy/steps.js'
import { HostError } from '../common/errors.js'
import { planHost } from '../deploy/plan.js'
import type { RunStatus } from '../report/model.js'

export async function rollback(ctx: DeployContext): Promise<RunStatus> {
  const toVersion = ctx.settings.rollback.toVersion
  const hosts: HostDeploy[] = []
  await onEachHost(
    ctx,
    'start',
    [...ctx.hosts, ...ctx.workerHosts],
    async (h) => {
      const live = h.runningVersion
      if (!planRollback(h, toVersion)) h.report.outcome = 'unchanged'
      else if (h.session.role === 'web') hosts.push(h)
      else h.report.outcome = 'rolled-back'
      return h.version === live ? `already on ${live}` : `${live ?? 'nothing'} -> ${h.version}`
    },
    'plan rollback',
  )
  if (hosts.length === 0 && workerHostsToDeploy(ctx).length === 0) return 'unchanged'
  const started: HostDeploy[] = []
  try {
    await onEachHost(ctx, 'start', hosts, async (h) => {
      if (!(await startUnlessWarm(h))) return `${h.version} still runs warm on ${h.plan.targetSlot}`
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

/**
 * Retargets a host at an earlier release from its history: `toVersion`, or the newest one that
 * is not live. Returns false when the host already serves it.
 */
export function planRollback(h: HostDeploy, toVersion: string): boolean {
  const { settings } = h.session
  const { history } = h.state
  const live = h.runningVersion
  const known = [...new Set(history.map((r) => r.version))]
  const target = toVersion
    ? history.find((r) => r.version === toVersion)
    : history.find((r) => r.version !== live)
  if (!target) {
    const detail = toVersion
      ? `version ${toVersion} is not in this host's history; available: ${known.join(', ') || 'none'}`
      : `nothing to roll back to: the history has ${known.length === 0 ? 'no release' : `only ${known.join(', ')}`}`
    throw new HostError(h.name, 'rollback', `${detail}. Nothing was changed.`)
  }
  h.target.version = target.version
  h.target.sha256 = target.sha256
  // The release starts (and later stops) the way it was deployed; start-command only stands in
  // for a release recorded before the commands were.
  h.target.commands =
    target.commands ?? (settings.app.startCommand ? inputCommands(settings) : undefined)
  if (h.target.commands !== undefined) h.slots.useStopCommand(h.target.commands.stop)
  // Its asset folders as recorded with it (the input only stands in for a release without).
  h.target.assets = target.assets ?? settings.app.assetPaths
  h.target.plan = planHost(settings, h.name, h.state, target.version)
  return target.version !== live
}

/**
 * When the idle slot still runs the target release (keep-previous: warm, or a rolling deploy
 * that failed), it is used as it is; else the release is started there from releases/. Returns
 * whether a slot was started (and so needs a health check).
 */
export async function startUnlessWarm(h: HostDeploy): Promise<boolean> {
  const { layout } = h.session
  const idle = h.state.slots[h.plan.targetSlot]
  // Whether it still runs came with the state read (a slot that died since fails the switch's
  // recheck, and the old version keeps serving).
  if (idle?.version === h.version && idle.pid !== null && h.facts.running?.[h.plan.targetSlot]) {
    h.target.pid = idle.pid
    return false
  }
  // The releases on the host came with the state read, under the lock this run still holds.
  if (!h.facts.releases.includes(h.version)) {
    throw new HostError(
      h.name,
      'rollback',
      `release ${h.version} is no longer in ${layout.releases} (pruned by keep-releases); deploy it again instead.`,
    )
  }
  if (h.target.commands === undefined) {
    throw new HostError(
      h.name,
      'rollback',
      `release ${h.version} was deployed by an older version of this action, which did not record its start-command in state.json, and its slot is not running: give start-command (the command that starts ${h.version}) to this rollback. Nothing was changed.`,
    )
  }
  await h.startNewSlot()
  return true
}
