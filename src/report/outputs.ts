/** The action's outputs for a run (pure): `main.ts` sets them with `core.setOutput`. */
import type { Slot } from '../remote/state.js'
import { plain, tail } from './markdown.js'
import type {
  HostOutcome,
  HostReport,
  JudgedWindow,
  Phase,
  PhaseTiming,
  RunReport,
  WorkerOutcome,
} from './model.js'

/** Per-host error text in the `hosts` output is cut to its last this many characters. */
export const OUTPUT_ERROR_CHARS = 2000

/** One element of the `hosts` output (JSON). */
export interface HostOutput {
  host: string
  /** `worker` for a host of `worker-hosts` (no slot); absent for a web host. */
  role?: 'worker'
  outcome: HostOutcome
  /** Slot and version serving after the run (null: nothing serves). */
  slot: Slot | null
  version: string | null
  previousSlot: Slot | null
  previousVersion: string | null
  /** Seconds spent per phase (two decimals; a phase that ran more than once is summed). */
  seconds: Partial<Record<Phase, number>>
  /** The release's workers the run started, and whether each came up; absent: none. */
  workers?: WorkerOutcome[]
  /** Connections still open when the drain reached drain-timeout (absent: it drained). */
  openAfterDrain?: number
  /** Last {@link OUTPUT_ERROR_CHARS} characters of what went wrong, control characters removed. */
  error?: string
}

/** Time per phase, summed over repeats, in order of first start; `failed` if any run failed. */
export function phaseTotals(phases: PhaseTiming[]): Map<Phase, { ms: number; failed: boolean }> {
  const totals = new Map<Phase, { ms: number; failed: boolean }>()
  for (const p of [...phases].sort((a, b) => a.startedAt - b.startedAt)) {
    const total = totals.get(p.phase) ?? { ms: 0, failed: false }
    total.ms += Math.max(0, p.endedAt - p.startedAt)
    total.failed ||= p.failed === true
    totals.set(p.phase, total)
  }
  return totals
}

export function hostOutput(host: HostReport): HostOutput {
  const seconds: Partial<Record<Phase, number>> = {}
  for (const [phase, { ms }] of phaseTotals(host.phases)) seconds[phase] = Math.round(ms / 10) / 100
  return {
    host: host.host,
    ...(host.role === undefined ? {} : { role: host.role }),
    outcome: host.outcome,
    slot: host.liveSlot,
    version: host.liveVersion,
    previousSlot: host.previousSlot,
    previousVersion: host.previousVersion,
    seconds,
    ...(host.workers === undefined ? {} : { workers: host.workers }),
    ...(host.openAfterDrain === undefined ? {} : { openAfterDrain: host.openAfterDrain }),
    ...(host.error === undefined ? {} : { error: tail(plain(host.error), OUTPUT_ERROR_CHARS) }),
  }
}

/**
 * Every output of the action, by name. `version` is the version live after the run, as action.yml
 * promises: after a failed run that is the previous version (the table of hosts tells exactly).
 */
export function runOutputs(report: RunReport): Record<string, string> {
  return {
    status: report.status,
    version: report.status === 'failed' ? (report.previousVersion ?? '') : report.version,
    'previous-version': report.previousVersion ?? '',
    'live-slot': report.liveSlot ?? '',
    'previous-slot': report.previousSlot ?? '',
    hosts: JSON.stringify(report.hosts.map(hostOutput)),
    'duration-seconds': String(Math.max(0, Math.round((report.endedAt - report.startedAt) / 1000))),
    'deployment-id': report.deploymentId === undefined ? '' : String(report.deploymentId),
    url: report.url,
    'watch-verdict': watchVerdict(report.watches),
  }
}

/**
 * `watch-verdict`: `passed`, `breached` (figures above a limit, a failed check or health),
 * `no-evidence` (the watch failed closed), or '' when no watch ran.
 */
export function watchVerdict(watches: JudgedWindow[]): string {
  if (watches.length === 0) return ''
  const aborted = watches.find((w) => w.verdict === 'aborted')
  if (aborted === undefined) return 'passed'
  return aborted.failClosed ? 'no-evidence' : 'breached'
}
