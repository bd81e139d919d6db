/**
 * A canary's reads on one host during a bake: a health check of the new slot, the canary access
 * log since an offset, and canary-check-command run from the new release.
 */
import { checkSlot } from '../deploy/health.js'
import type { HostDeploy } from '../deploy/host-deploy.js'
import { slotPort } from '../deploy/plan.js'
import { accessLogSince } from '../remote/commands/canary.js'
import { runInRelease } from '../remote/commands/slot.js'
import { NO_COUNTS, parseLogReading, type Counts } from './evidence.js'

/** One health check of the new slot during a canary bake: what is wrong, or undefined. */
export function canaryHealthProblem(h: HostDeploy): Promise<string | undefined> {
  return checkSlot(...h.slots.healthTarget(), 'canary')
}

/**
 * The canary access log from byte `offset` on (no offset: from its end): the new slot's requests
 * and 5xx, how many requests reached either of the app's slots (0: not the serving site's log),
 * and the offset to read from next time; null when the host has no readable log.
 */
export async function canaryLog(
  h: HostDeploy,
  offset?: number,
): Promise<{ counts: Counts; appRequests: number; offset: number } | null> {
  const { settings } = h.session
  const { stdout } = await h.host.exec(accessLogSince(settings.canary.accessLog, offset), {
    step: 'canary: read access log',
  })
  const reading = parseLogReading(stdout)
  if (reading.missing) return null
  const counts = reading.byUpstream.get(`127.0.0.1:${h.plan.targetPort}`) ?? NO_COUNTS
  const appRequests = (['blue', 'green'] as const)
    .map((slot) => reading.byUpstream.get(`127.0.0.1:${slotPort(settings, slot)}`))
    .reduce((sum, c) => sum + (c?.requests ?? 0), 0)
  return { counts, appRequests, offset: reading.size }
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
