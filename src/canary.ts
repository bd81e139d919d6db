/**
 * Canary analysis (pure): what the access logs say about a step, and the verdict. The remote side
 * (src/remote/commands/canary.ts) reduces a log to `<upstream> <requests> <5xx>` lines.
 */
import type { CanarySettings } from './inputs.js'

/** Requests and 5xx answers of one upstream server. */
export interface Counts {
  requests: number
  errors: number
}

/** One host's access log since an offset. */
export type LogReading =
  { missing: true } | { missing: false; size: number; byUpstream: Map<string, Counts> }

/** Parses the output of `accessLogSince`. */
export function parseLogReading(stdout: string): LogReading {
  const lines = stdout.split('\n').filter((line) => line.trim() !== '')
  if (lines[0] === 'missing') return { missing: true }
  const size = /^size (\d+)$/.exec(lines[0] ?? '')
  if (!size)
    throw new Error(`unexpected access log summary: ${JSON.stringify(stdout.slice(0, 200))}`)
  const byUpstream = new Map<string, Counts>()
  for (const line of lines.slice(1)) {
    const [upstream = '', requests = '', errors = ''] = line.trim().split(/\s+/)
    byUpstream.set(upstream, { requests: Number(requests), errors: Number(errors) })
  }
  return { missing: false, size: Number(size[1]), byUpstream }
}

export function addCounts(a: Counts, b: Counts): Counts {
  return { requests: a.requests + b.requests, errors: a.errors + b.errors }
}

export const NO_COUNTS: Counts = { requests: 0, errors: 0 }

export type Verdict =
  /** Too few requests reached the new version to judge its error rate (health still counted). */
  'not judged' | 'passed' | 'aborted'

/** The 5xx share of the new version, judged once it had at least `minRequests` requests. */
export function judge(
  counts: Counts,
  settings: Pick<CanarySettings, 'maxErrorRate' | 'minRequests'>,
): { verdict: Verdict; reason?: string } {
  if (counts.requests < settings.minRequests) return { verdict: 'not judged' }
  const rate = counts.errors / counts.requests
  if (rate <= settings.maxErrorRate) return { verdict: 'passed' }
  return {
    verdict: 'aborted',
    reason:
      `the new version answered 5xx to ${formatRate(rate)} of ${counts.requests} requests ` +
      `(${counts.errors}), above canary-max-error-rate ${formatRate(settings.maxErrorRate)}`,
  }
}

export function formatRate(rate: number): string {
  return `${Number((rate * 100).toFixed(2))}%`
}

/** One step of a canary, for the summary. */
export interface CanaryStep {
  /** Traffic canary: the new version's weight in percent; host canary: its hosts. */
  label: string
  /** Requests and 5xx that reached the new version, from the access logs (null: no log). */
  counts: Counts | null
  verdict: Verdict | 'promoted'
  /** Why it aborted, or what was not judged. */
  note?: string
}
