/**
 * Blue-green: the new version starts on every host's idle slot; only when every host is healthy
 * (and the smoke test passed) does nginx switch, on all hosts together or on none. With `watch`,
 * the new version's traffic is judged before the switch is recorded and the old slots retire.
 */
import { watchedHosts, watchThenRecord } from '../canary/watch.js'
import type { DeployContext } from '../deploy/context.js'
import {
  finish,
  hostsToDeploy,
  shipAndStart,
  switchTogether,
  workersOnly,
} from '../deploy/steps.js'
import type { RunStatus } from '../report/model.js'

export async function blueGreen(ctx: DeployContext): Promise<RunStatus> {
  const hosts = hostsToDeploy(ctx)
  if (hosts.length === 0) return workersOnly(ctx)
  await shipAndStart(ctx, hosts)
  await switchTogether(ctx, hosts, watchedHosts(ctx, hosts))
  await watchThenRecord(ctx, hosts)
  return finish(ctx, hosts)
}
