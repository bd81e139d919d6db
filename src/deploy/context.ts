/** What every strategy works with, and the per-phase loop over hosts. */
import * as core from '@actions/core'
import { errorMessage, messageWithoutHost } from '../errors.js'
import type { Settings } from '../inputs.js'
import type { HostLogs } from '../log.js'
import { forEachParallel } from '../parallel.js'
import type { CanaryStep } from '../canary.js'
import type { ReleaseArchive } from '../release/index.js'
import type { Phase, PhaseTiming, RunStatus } from '../report/model.js'
import type { HostDeploy } from './host-deploy.js'
import type { LoadBalancer } from './load-balancer.js'
import { timed } from './timing.js'

export interface DeployContext {
  settings: Settings
  version: string
  /** The packed release; absent for a rollback, which ships nothing. */
  archive?: ReleaseArchive
  hosts: HostDeploy[]
  /** Rolling deploys with `load-balancer`: the balancer, connected and locked. */
  loadBalancer?: LoadBalancer
  /** Run-wide phases (migrate, smoke, canary, post-deploy). */
  phases: PhaseTiming[]
  /** Strategy canary records its steps here, for the summary. */
  canarySteps: CanaryStep[]
  logs: HostLogs
}

export type Strategy = (ctx: DeployContext) => Promise<RunStatus>

/**
 * Runs one phase on the given hosts in parallel (bounded by max-parallel), timing it per host,
 * noting each host's error on its report, and printing each host's remote output as a log group.
 */
export async function onEachHost(
  ctx: DeployContext,
  phase: Phase,
  hosts: HostDeploy[],
  step: (host: HostDeploy) => Promise<unknown>,
): Promise<void> {
  try {
    await forEachParallel(hosts, ctx.settings.ssh.maxParallel, (host) =>
      timed(host.report.phases, phase, () => step(host)).catch((error: unknown) => {
        host.report.error ??= messageWithoutHost(error)
        throw error
      }),
    )
  } finally {
    ctx.logs.flush(phase)
  }
}

/**
 * Cleanup on failure: tries every host, logs what could not be done, never throws. Returns the
 * hosts where it worked.
 */
export async function bestEffort(
  logs: HostLogs,
  what: string,
  hosts: HostDeploy[],
  step: (host: HostDeploy) => Promise<unknown>,
): Promise<HostDeploy[]> {
  const results = await Promise.allSettled(hosts.map(step))
  results.forEach((result, i) => {
    if (result.status === 'rejected') {
      core.warning(`[${hosts[i]!.name}] ${what} failed: ${errorMessage(result.reason)}`)
    }
  })
  logs.flush(what)
  return hosts.filter((_, i) => results[i]!.status === 'fulfilled')
}
