/**
 * Blue-green: the new version starts on every host's idle slot; only when every host is healthy
 * (and the smoke test passed) does nginx switch, on all hosts together or on none.
 */
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
  await switchTogether(ctx, hosts)
  return finish(ctx, hosts)
}
