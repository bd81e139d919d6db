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
import type { ReleaseArchive } from '../release/index.js'
import type { HostReport, JudgedWindow, Phase, PhaseTiming, RunStatus } from '../report/model.js'
import type { HostDeploy } from './host-deploy.js'
import type { LoadBalancer } from './load-balancer.js'
import { timed } from './timing.js'

export interface DeployContext {
  settings: Settings
  version: string
  /** The packed release; absent for a rollback, which ships nothing. */
  archive?: ReleaseArchive
  hosts: HostDeploy[]
  /** `worker-hosts`: hosts that run only the release's workers (no slots, no nginx). */
  workerHosts: HostDeploy[]
  /** Rolling deploys with `load-balancer`: the balancer, connected and locked. */
  loadBalancer?: LoadBalancer
  /** Run-wide phases (migrate, smoke, canary, watch, post-deploy). */
  phases: PhaseTiming[]
  /** Strategy canary records its steps here, for the summary. */
  canarySteps: JudgedWindow[]
  /** The watches after the switch (`watch`), for the summary and the watch-verdict output. */
  watches: JudgedWindow[]
  logs: HostLogs
}

export type Strategy = (ctx: DeployContext) => Promise<RunStatus>

/** What a phase needs of a host: a HostDeploy, or a HostSession before its state is read. */
export interface PhaseHost {
  readonly name: string
  readonly report: HostReport
  progress: string
}

/** One phase of a host's run: its name, what it does on a host, its title in the log. */
export interface HostPhase<H extends PhaseHost> {
  phase: Phase
  step: (host: H) => Promise<unknown>
  /** How the log names the phase (default: the phase). */
  title?: string
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
  await inTurnOnEachHost(ctx, hosts, [{ phase, step, title }])
}

/**
 * Runs `phases` in order on each host, the hosts in parallel (bounded by max-parallel), without
 * waiting for the other hosts between phases: at real round-trip times a host that has shipped
 * starts while a slower one still ships. Once a phase failed on any host, no host begins another
 * phase; the failures are thrown when every host has stopped. The log is as for onEachHost; on
 * many hosts a phase's line comes when the last host finished it.
 */
export async function inTurnOnEachHost<H extends PhaseHost>(
  ctx: DeployContext,
  hosts: H[],
  phases: HostPhase<H>[],
): Promise<void> {
  if (hosts.length === 0) return
  const perHost = hosts.length <= PER_HOST_LINES
  const titleOf = (p: HostPhase<H>) => p.title ?? p.phase
  const outcomes = phases.map((): HostOutcome[] => [])
  const summarized = phases.map(() => false)
  const summarize = (i: number) => {
    summarized[i] = true
    info(fleetPhaseLine(titleOf(phases[i]!), outcomes[i]!))
  }
  const finished = (i: number, outcome: HostOutcome) => {
    outcomes[i]!.push(outcome)
    const line = hostPhaseLine(titleOf(phases[i]!), outcome)
    if (perHost) info(line)
    else debug(line)
    if (!perHost && outcomes[i]!.length === hosts.length) summarize(i)
  }
  /** The phase each host is in (or waits for a turn at) until it stops, and since when. */
  const at = new Map(hosts.map((h) => [h, { phase: 0, since: Date.now() }]))
  hosts.forEach((h) => (h.progress = ''))
  // Speaks of the phase the hosts still at it are in (since the first of them began it); of each
  // host's phase when they are in different ones.
  const heartbeat = () => {
    const pending = [...at]
    const current = new Set(pending.map(([, a]) => a.phase))
    const one = current.size === 1
    const title = [...current]
      .sort((x, y) => x - y)
      .map((i) => titleOf(phases[i]!))
      .join(', ')
    const since = Math.min(...pending.map(([, a]) => a.since))
    return waitingLine(
      title,
      Date.now() - since,
      pending.map(([h, a]) => ({
        host: h.name,
        status: one ? h.progress : `${titleOf(phases[a.phase]!)}: ${h.progress || 'running'}`,
      })),
    )
  }
  let failed = false
  try {
    await withHeartbeat(heartbeat, () =>
      forEachParallel(hosts, ctx.settings.ssh.maxParallel, async (host) => {
        try {
          for (const [i, p] of phases.entries()) {
            if (failed) return
            at.set(host, { phase: i, since: Date.now() })
            host.progress = ''
            await runPhase(host, p, titleOf(p), (outcome) => finished(i, outcome)).catch(
              (error: unknown) => {
                failed = true
                throw error
              },
            )
          }
        } finally {
          at.delete(host)
        }
      }),
    )
  } finally {
    if (!perHost) outcomes.forEach((o, i) => o.length > 0 && !summarized[i] && summarize(i))
  }
}

/** One phase on one host: timed into its report, its error noted there, its outcome told. */
async function runPhase<H extends PhaseHost>(
  host: H,
  p: HostPhase<H>,
  title: string,
  told: (outcome: HostOutcome) => void,
): Promise<void> {
  const startedAt = Date.now()
  try {
    const result = await timed(host.report.phases, p.phase, () => p.step(host))
    const note = typeof result === 'string' ? result : undefined
    told({ host: host.name, ms: Date.now() - startedAt, note })
  } catch (error) {
    const message = messageWithoutHost(error)
    host.report.error ??= message
    const failed = message.startsWith(`${title}: `) ? message.slice(title.length + 2) : message
    told({ host: host.name, ms: Date.now() - startedAt, failed })
    throw error
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
