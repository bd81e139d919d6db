/** What every strategy works with, and the per-phase loop over hosts. */
import { errorMessage, messageWithoutHost } from '../common/errors.js'
import type { Settings } from '../inputs/settings.js'
import {
  debug,
  fleetPhaseLine,
  formatDuration,
  hostPhaseLine,
  info,
  PER_HOST_LINES,
  waitingLine,
  withHeartbeat,
  type HostLogs,
  type HostOutcome,
} from '../report/log.js'
import { forEachParallel } from '../common/parallel.js'
import type { CanaryStep } from '../canary/evidence.js'
import type { ReleaseArchive } from '../release/index.js'
import type { HostReport, Phase, PhaseTiming, RunStatus } from '../report/model.js'
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

/** What a phase needs of a host: a HostDeploy, or a HostSession before its state is read. */
export interface PhaseHost {
  readonly name: string
  readonly report: HostReport
  progress: string
}

/**
 * Runs one phase on the given hosts in parallel (bounded by max-parallel), timing it per host and
 * noting each host's error on its report. The log gets one line per host as each finishes (what
 * the step returned, when it returns a string, and the duration), or one line for the whole phase
 * when it runs on many hosts; while hosts are still at it, a heartbeat with their `progress`.
 * `title` names the phase in the log (default: the phase).
 */
export async function onEachHost<H extends PhaseHost>(
  ctx: DeployContext,
  phase: Phase,
  hosts: H[],
  step: (host: H) => Promise<unknown>,
  title: string = phase,
): Promise<void> {
  if (hosts.length === 0) return
  const perHost = hosts.length <= PER_HOST_LINES
  const outcomes: HostOutcome[] = []
  const pending = new Set(hosts)
  hosts.forEach((h) => (h.progress = ''))
  const finished = (outcome: HostOutcome) => {
    outcomes.push(outcome)
    if (perHost) info(hostPhaseLine(title, outcome))
    else debug(hostPhaseLine(title, outcome))
  }
  const heartbeat = (ms: number) =>
    waitingLine(
      title,
      ms,
      [...pending].map((h) => ({ host: h.name, status: h.progress })),
    )
  try {
    await withHeartbeat(heartbeat, () =>
      forEachParallel(hosts, ctx.settings.ssh.maxParallel, async (host) => {
        const startedAt = Date.now()
        try {
          const result = await timed(host.report.phases, phase, () => step(host))
          const note = typeof result === 'string' ? result : undefined
          finished({ host: host.name, ms: Date.now() - startedAt, note })
        } catch (error) {
          host.report.error ??= messageWithoutHost(error)
          const message = messageWithoutHost(error)
          const failed = message.startsWith(`${title}: `)
            ? message.slice(title.length + 2)
            : message
          finished({ host: host.name, ms: Date.now() - startedAt, failed })
          throw error
        } finally {
          pending.delete(host)
        }
      }),
    )
  } finally {
    if (!perHost) info(fleetPhaseLine(title, outcomes))
  }
}

/**
 * Cleanup on failure: tries every host, logs what could not be done, never throws. Returns the
 * hosts where it worked.
 */
export async function bestEffort<H extends Pick<PhaseHost, 'name'>>(
  logs: HostLogs,
  what: string,
  hosts: H[],
  step: (host: H) => Promise<unknown>,
): Promise<H[]> {
  const results = await withHeartbeat(
    (ms) => `${what}, ${formatDuration(ms)}: still at it`,
    () => Promise.allSettled(hosts.map(step)),
  )
  results.forEach((result, i) => {
    if (result.status === 'rejected') {
      logs.warning(`[${hosts[i]!.name}] ${what} failed: ${errorMessage(result.reason)}`)
    }
  })
  return hosts.filter((_, i) => results[i]!.status === 'fulfilled')
}
