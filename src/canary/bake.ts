/**
 * One canary step's bake: for canary-step-duration, the new slots of the given hosts are judged
 * as a window of real traffic (window.ts: health, and the 5xx rate and p99 of the access logs
 * summed over the hosts, against canary-max-error-rate and canary-max-latency once
 * canary-min-requests came in). At the end, canary-check-command runs on each host. The step is
 * recorded for the summary either way.
 */
import { errorMessage } from '../common/errors.js'
import { forEachParallel } from '../common/parallel.js'
import type { DeployContext } from '../deploy/context.js'
import type { HostDeploy } from '../deploy/host-deploy.js'
import { timed } from '../deploy/timing.js'
import { newWindow } from '../report/model.js'
import { runCanaryCheck } from './host.js'
import { judgeWindow } from './window.js'

/**
 * A verdict on the release itself: a canary or a watch found it wanting (or had no evidence).
 * Whatever on-failure says, the hosts that switched go back, and the version counts as never
 * live there (a fixed rerun of it may replace it).
 */
export class ReleaseRejected extends Error {}

/** The bake found the new version wanting; its step is already recorded. */
export class CanaryAborted extends ReleaseRejected {}

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
  const { canary, ssh } = ctx.settings
  const step = newWindow(label)
  ctx.canarySteps.push(step)
  const checks = () =>
    forEachParallel(hosts, ssh.maxParallel, (h) => runCanaryCheck(h, String(weight)))
  try {
    await timed(ctx.phases, 'canary', () =>
      judgeWindow(ctx, hosts, {
        title: `Canary ${label}`,
        inputs: 'canary',
        gate: canary,
        durationMs: canary.stepDurationMs,
        durationInput: 'canary-step-duration',
        record: step,
        ...(canary.checkCommand ? { atEnd: async () => void (await checks()) } : {}),
      }),
    )
  } catch (error) {
    throw new CanaryAborted(`canary step ${label}: ${errorMessage(error)}`, { cause: error })
  }
}
