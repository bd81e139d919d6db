/**
 * One canary step's bake: for canary-step-duration, the new slots of the given hosts are watched,
 * every health-interval: a health check each (two failures in a row abort; one slow answer under
 * load does not), and their requests and 5xx from the access logs, summed over the hosts (above
 * canary-max-error-rate once canary-min-requests came in aborts at once). At the end,
 * canary-check-command runs on each host. The step is recorded for the summary either way.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import * as core from '@actions/core'
import { addCounts, judge, NO_COUNTS, type CanaryStep, type Counts } from '../canary.js'
import { HostError, errorMessage } from '../errors.js'
import { forEachParallel } from '../parallel.js'
import type { DeployContext } from './context.js'
import type { HostDeploy } from './host-deploy.js'
import { timed } from './timing.js'
import { formatDuration, withHeartbeat } from '../log.js'

const FAILED_CHECKS_TO_ABORT = 2

/** The bake found the new version wanting; `step` is already recorded. */
export class CanaryAborted extends Error {}

/**
 * `label` names the step in the log and summary; `weight` is the new version's share of the
 * traffic in percent (CANARY_WEIGHT for canary-check-command).
 */
export async function bake(
  ctx: DeployContext,
  hosts: HostDeploy[],
  label: string,
  weight: number,
): Promise<void> {
  const step: CanaryStep = { label, counts: null, verdict: 'not judged' }
  ctx.canarySteps.push(step)
  try {
    const heartbeat = (ms: number) =>
      bakeProgress(label, step.counts, ctx.settings.canary.stepDurationMs - ms)
    await timed(ctx.phases, 'canary', () =>
      withHeartbeat(heartbeat, () => watch(ctx, hosts, step, weight)),
    )
  } catch (error) {
    step.verdict = 'aborted'
    step.note ??= errorMessage(error)
    throw error instanceof CanaryAborted
      ? error
      : new CanaryAborted(`canary step ${label}: ${errorMessage(error)}`, { cause: error })
  }
}

async function watch(
  ctx: DeployContext,
  hosts: HostDeploy[],
  step: CanaryStep,
  weight: number,
): Promise<void> {
  const { canary, health } = ctx.settings
  const offsets = await logOffsets(ctx, hosts)
  const failedChecks = new Map<HostDeploy, number>()
  const deadline = Date.now() + canary.stepDurationMs
  let total: Counts | null = offsets.size === 0 ? null : NO_COUNTS
  core.info(`Canary ${step.label}: baking for ${canary.stepDurationMs / 1000}s`)
  while (Date.now() < deadline) {
    await sleep(Math.min(health.intervalMs, Math.max(0, deadline - Date.now())))
    await forEachParallel(hosts, ctx.settings.ssh.maxParallel, async (h) => {
      const problem = await h.canaryHealthProblem()
      const failures = problem === undefined ? 0 : (failedChecks.get(h) ?? 0) + 1
      failedChecks.set(h, failures)
      if (problem !== undefined && failures >= FAILED_CHECKS_TO_ABORT) {
        throw new HostError(
          h.name,
          'canary',
          `health check failed ${failures} times in a row: ${problem}`,
        )
      }
      const offset = offsets.get(h)
      if (offset === undefined) return
      const read = await h.canaryLog(offset)
      if (read === null) return
      offsets.set(h, read.offset)
      total = addCounts(total ?? NO_COUNTS, read.counts)
    })
    step.counts = total
    const judged = total === null ? undefined : judge(total, canary)
    if (judged?.verdict === 'aborted')
      throw new CanaryAborted(`canary step ${step.label}: ${judged.reason}`)
  }
  if (canary.checkCommand) {
    await forEachParallel(hosts, ctx.settings.ssh.maxParallel, (h) =>
      h.runCanaryCheck(String(weight)),
    )
  }
  step.counts = total
  if (total === null) {
    step.note = `no access log at ${canary.accessLog} on any host: judged on health only`
    return
  }
  const judged = judge(total, canary)
  step.verdict = judged.verdict
  if (judged.verdict === 'not judged') {
    step.note = `${total.requests} request(s), fewer than canary-min-requests (${canary.minRequests}): judged on health only`
  }
}

/** Where each host's access log ends now; hosts without a readable log are left out (warned). */
async function logOffsets(
  ctx: DeployContext,
  hosts: HostDeploy[],
): Promise<Map<HostDeploy, number>> {
  const offsets = new Map<HostDeploy, number>()
  await forEachParallel(hosts, ctx.settings.ssh.maxParallel, async (h) => {
    const read = await h.canaryLog()
    if (read !== null) offsets.set(h, read.offset)
    else {
      core.warning(
        `[${h.name}] canary: no readable access log at ${ctx.settings.canary.accessLog}, so its ` +
          `5xx rate is not measured (health checks only). Add \`access_log ` +
          `${ctx.settings.canary.accessLog} ${ctx.settings.app.name}_canary;\` to the site (README: Canary).`,
      )
    }
  })
  return offsets
}

/** The bake's heartbeat: `Canary 10%: 42 requests, 1 5xx (2.4%) so far, 15.0s left`. */
export function bakeProgress(label: string, total: Counts | null, leftMs: number): string {
  const left = `${formatDuration(Math.max(0, leftMs))} left`
  if (total === null) return `Canary ${label}: baking, no request counts, ${left}`
  const rate = total.requests === 0 ? 0 : (100 * total.errors) / total.requests
  return `Canary ${label}: ${total.requests} requests, ${total.errors} 5xx (${rate.toFixed(1)}%) so far, ${left}`
}
