/**
 * The reads on one host while a window of real traffic is judged (a canary step, the watch): a
 * health check of the new slot, the evidence log since an offset, and canary-check-command run
 * from the new release.
 */
import { checkSlot, type CheckPhase } from '../deploy/health.js'
import type { HostDeploy } from '../deploy/host-deploy.js'
import { slotPort } from '../deploy/plan.js'
import { accessLogSince } from '../remote/commands/canary.js'
import { runInRelease } from '../remote/commands/slot.js'
import type { FailedRequest } from '../report/model.js'
import { NO_COUNTS, parseLogReading, type Latencies } from './evidence.js'

/** One health check of the new slot during a window: what is wrong, or undefined. */
export function newSlotHealthProblem(
  h: HostDeploy,
  phase: CheckPhase,
): Promise<string | undefined> {
  return checkSlot(...h.slots.healthTarget(), phase)
}

/** What the evidence log of a host said about the new slot since the last read. */
export interface HostLogRead {
  counts: { requests: number; errors: number }
  latencies: Latencies
  failures: FailedRequest[]
  /** Requests to either of the app's slots (0: the log is not the serving site's). */
  appRequests: number
  /** Where to read from next time. */
  offset: number
}

/**
 * The evidence log from byte `offset` on (no offset: from its end): the new slot's requests, 5xx,
 * response times and first failures, how many requests reached either of the app's slots, and
 * the offset to read from next time; null when the host has no readable log.
 */
export async function evidenceLog(h: HostDeploy, offset?: number): Promise<HostLogRead | null> {
  const { settings } = h.session
  const { stdout } = await h.host.exec(accessLogSince(settings.canary.accessLog, offset), {
    step: 'read access log',
  })
  const reading = parseLogReading(stdout)
  if (reading.missing) return null
  const upstream = (port: number) => reading.byUpstream.get(`127.0.0.1:${port}`)
  const target = upstream(h.plan.targetPort)
  const appRequests = (['blue', 'green'] as const)
    .map((slot) => upstream(slotPort(settings, slot))?.counts.requests ?? 0)
    .reduce((sum, n) => sum + n, 0)
  return {
    counts: target?.counts ?? NO_COUNTS,
    latencies: target?.latencies ?? new Map(),
    failures: (target?.failures ?? []).map((f) => ({ ...f, host: h.name })),
    appRequests,
    offset: reading.size,
  }
}

/** canary-check-command, on this host from the new release; throws when it exits non-zero. */
export async function runCanaryCheck(h: HostDeploy, weight: string): Promise<void> {
  const { settings, layout } = h.session
  const env = h.slots.env(h.plan.targetSlot)
  await h.host.exec(
    runInRelease(layout, settings.canary.checkCommand, env, { CANARY_WEIGHT: weight }),
    { step: 'canary: canary-check-command', onLine: h.session.showLine('canary-check-command') },
  )
}
