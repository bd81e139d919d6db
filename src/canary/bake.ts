/**
 * One canary step's bake: for canary-step-duration, the new slots of the given hosts are watched,
 * every health-interval: a health check each (two failures in a row abort; one slow answer under
 * load does not), and their requests and 5xx from the access logs, summed over the hosts (above
 * canary-max-error-rate once canary-min-requests came in aborts at once). At the end,
 * canary-check-command runs on each host. The step is recorded for the summary either way.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import * as core from '@actions/core'
import {
  addCounts,
  canaryLogLine,
  judge,
  NO_COUNTS,
  type CanaryStep,
  type Counts,
} from './evidence.js'
import { HostError, errorMessage } from '../common/errors.js'
import { forEachParallel } from '../common/parallel.js'
import type { DeployContext } from '../deploy/context.js'
import type { HostDeploy } from '../deploy/host-deploy.js'
import { timed } from '../deploy/timing.js'
import { canaryHealthProblem, canaryLog, runCanaryCheck } from './host.js'
import { formatDuration, withHeartbeat } from '../report/log.js'

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
  const appRequests = new Map<HostDeploy, number>()
  const failedChecks = new Map<HostDeploy, number>()
  const deadline = Date.now() + canary.stepDurationMs
  let total: Counts | null = offsets.size === 0 ? null : NO_COUNTS
  core.info(`Canary ${step.label}: baking for ${canary.stepDurationMs / 1000}s`)
  while (Date.now() < deadline) {
    await sleep(Math.min(health.intervalMs, Math.max(0, deadline - Date.now())))
    await forEachParallel(hosts, ctx.settings.ssh.maxParallel, async (h) => {
      const problem = await canaryHealthProblem(h)
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
      const read = await canaryLog(h, offset)
      if (read === null) return
      offsets.set(h, read.offset)
      appRequests.set(h, (appRequests.get(h) ?? 0) + read.appRequests)
      total = addCounts(total ?? NO_COUNTS, read.counts)
    })
    step.counts = total
    const judged = total === null || canary.healthOnly ? undefined : judge(total, canary)
    if (judged?.verdict === 'aborted')
      throw new CanaryAborted(`canary step ${step.label}: ${judged.reason}`)
  }
  if (!canary.healthOnly) {
    const blind = hosts.find((h) => (appRequests.get(h) ?? 0) === 0)
    if (blind) throw new HostError(blind.name, 'canary', noRequestsLogged(ctx))
  }
  if (canary.checkCommand) {
    await forEachParallel(hosts, ctx.settings.ssh.maxParallel, (h) =>
      runCanaryCheck(h, String(weight)),
    )
  }
  step.counts = total
  if (canary.healthOnly) {
    step.note = 'canary-max-error-rate: off: judged on health only'
    return
  }
  const judged = judge(total ?? NO_COUNTS, canary)
  step.verdict = judged.verdict
  if (judged.verdict === 'not judged') {
    step.note = `${(total ?? NO_COUNTS).requests} request(s), fewer than canary-min-requests (${canary.minRequests}): judged on health only`
  }
}

/**
 * Where each host's access log ends now. Without a readable log the step has no evidence: it
 * aborts (fail closed), unless the user chose health-only judging (canary-max-error-rate: off).
 */
async function logOffsets(
  ctx: DeployContext,
  hosts: HostDeploy[],
): Promise<Map<HostDeploy, number>> {
  const offsets = new Map<HostDeploy, number>()
  const { accessLog, healthOnly } = ctx.settings.canary
  await forEachParallel(hosts, ctx.settings.ssh.maxParallel, async (h) => {
    const read = await canaryLog(h)
    if (read !== null) offsets.set(h, read.offset)
    else if (healthOnly) core.info(`[${h.name}] canary: no readable access log at ${accessLog}`)
    else throw new HostError(h.name, 'canary', noReadableLog(ctx))
  })
  return offsets
}

const HEALTH_ONLY = 'or set `canary-max-error-rate: off` to judge on health checks only'

function noReadableLog(ctx: DeployContext): string {
  const { accessLog } = ctx.settings.canary
  return (
    `no evidence, so the canary fails closed: cannot read the access log ${accessLog} (missing, ` +
    `or not readable by the deploy user). The action's ` +
    `include writes it during a canary: let the deploy user read it (e.g. add it to the log's ` +
    `group, often adm), set canary-access-log to a file it can read, ${HEALTH_ONLY}.`
  )
}

function noRequestsLogged(ctx: DeployContext): string {
  const { canary, app } = ctx.settings
  return (
    `no evidence, so the canary fails closed: the access log ${canary.accessLog} recorded no ` +
    `request to ${app.name}'s slots during the ${canary.stepDurationMs / 1000}s bake, so the ` +
    `site that serves http://${app.name} does not write it (a server with an access_log of its ` +
    `own does not inherit the action's), or no traffic came in. Add \`${canaryLogLine(ctx.settings)}\` ` +
    `to the server block that has \`proxy_pass http://${app.name};\` (next to its own ` +
    `access_log), ${HEALTH_ONLY}.`
  )
}

/** The bake's heartbeat: `Canary 10%: 42 requests, 1 5xx (2.4%) so far, 15.0s left`. */
export function bakeProgress(label: string, total: Counts | null, leftMs: number): string {
  const left = `${formatDuration(Math.max(0, leftMs))} left`
  if (total === null) return `Canary ${label}: baking, no request counts, ${left}`
  const rate = total.requests === 0 ? 0 : (100 * total.errors) / total.requests
  return `Canary ${label}: ${total.requests} requests, ${total.errors} 5xx (${rate.toFixed(1)}%) so far, ${left}`
}
