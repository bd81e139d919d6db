/**
 * The evidence of real traffic to a new version (pure), for a canary step and for the watch
 * after a switch: what the access log of the app's slots says (requests, 5xx, response times,
 * the first failures), the gate's verdict on it, and the dry run's answer to whether there will
 * be any. The remote side (src/remote/commands/canary.ts) reduces a log to a few lines per
 * upstream server.
 */
import type { EvidenceGate, Settings } from '../inputs/settings.js'
import { evidenceLogLine } from '../nginx/evidence-log.js'
import { formatLatency, formatRate } from '../report/log.js'
import {
  FIRST_FAILURES,
  type Counts,
  type FailedRequest,
  type LogEvidence,
} from '../report/model.js'

/** Which inputs judge a window: `canary-*` or `watch-*` (named in every message). */
export type GateInputs = 'canary' | 'watch'

/** Response times in ms as a histogram: bucket (its upper bound, ms) to answers. */
export type Latencies = Map<number, number>

/** What one upstream server answered in a stretch of the log. */
export interface UpstreamReading {
  counts: Counts
  latencies: Latencies
  /** Its first 5xx answers there (at most FIRST_FAILURES), oldest first. */
  failures: Omit<FailedRequest, 'host'>[]
}

/** One host's access log since an offset. */
export type LogReading =
  { missing: true } | { missing: false; size: number; byUpstream: Map<string, UpstreamReading> }

/** Parses the output of `accessLogSince`. */
export function parseLogReading(stdout: string): LogReading {
  const lines = stdout.split('\n').filter((line) => line.trim() !== '')
  if (lines[0] === 'missing') return { missing: true }
  const size = /^size (\d+)$/.exec(lines[0] ?? '')
  if (!size)
    throw new Error(`unexpected access log summary: ${JSON.stringify(stdout.slice(0, 200))}`)
  const byUpstream = new Map<string, UpstreamReading>()
  const of = (upstream: string) => {
    const known = byUpstream.get(upstream)
    if (known) return known
    const fresh: UpstreamReading = { counts: NO_COUNTS, latencies: new Map(), failures: [] }
    byUpstream.set(upstream, fresh)
    return fresh
  }
  for (const line of lines.slice(1)) {
    const [kind, upstream = '', a = '', b = ''] = line.trim().split(/\s+/)
    if (kind === 'count') of(upstream).counts = { requests: Number(a), errors: Number(b) }
    else if (kind === 'lat') of(upstream).latencies.set(Number(a), Number(b))
    else if (kind === 'fail')
      of(upstream).failures.push({ at: Number(a) * 1000, status: Number(b) })
  }
  for (const reading of byUpstream.values()) reading.failures.sort((x, y) => x.at - y.at)
  return { missing: false, size: Number(size[1]), byUpstream }
}

export function addCounts(a: Counts, b: Counts): Counts {
  return { requests: a.requests + b.requests, errors: a.errors + b.errors }
}

export const NO_COUNTS: Counts = { requests: 0, errors: 0 }

/** `into` with `more` added to it. */
export function addLatencies(into: Latencies, more: Latencies): Latencies {
  for (const [bucket, n] of more) into.set(bucket, (into.get(bucket) ?? 0) + n)
  return into
}

/** The 99th percentile of the histogram (the bucket it falls in); null when it is empty. */
export function p99(latencies: Latencies): number | null {
  const total = [...latencies.values()].reduce((sum, n) => sum + n, 0)
  if (total === 0) return null
  const rank = Math.ceil(0.99 * total)
  let seen = 0
  for (const bucket of [...latencies.keys()].sort((a, b) => a - b)) {
    seen += latencies.get(bucket)!
    if (seen >= rank) return bucket
  }
  return null
}

/** What a window saw of the new version so far. */
export interface Seen {
  counts: Counts
  latencies: Latencies
}

export type Judgement =
  /** Fewer requests than the gate's minimum: keep watching (or, at the end, fail closed). */
  { verdict: 'too few' } | { verdict: 'passed' } | { verdict: 'aborted'; reason: string }

/**
 * The gate's verdict on what a window saw: judged once `minRequests` requests came in, on the
 * 5xx share and on the p99 response time, each when its limit is set.
 */
export function judge(seen: Seen, gate: EvidenceGate, inputs: GateInputs): Judgement {
  const { requests, errors } = seen.counts
  if (requests < gate.minRequests) return { verdict: 'too few' }
  const rate = requests === 0 ? 0 : errors / requests
  if (gate.maxErrorRate !== null && rate > gate.maxErrorRate) {
    return {
      verdict: 'aborted',
      reason:
        `the new version answered 5xx to ${formatRate(rate)} of ${requests} requests ` +
        `(${errors}), above ${inputs}-max-error-rate ${formatRate(gate.maxErrorRate)}`,
    }
  }
  const slowest = p99(seen.latencies)
  if (gate.maxLatencyMs !== null && slowest !== null && slowest > gate.maxLatencyMs) {
    return {
      verdict: 'aborted',
      reason:
        `the new version's p99 response time was ${formatLatency(slowest)} over ${requests} ` +
        `requests, above ${inputs}-max-latency ${formatLatency(gate.maxLatencyMs)}`,
    }
  }
  return { verdict: 'passed' }
}

/** Whether the gate judges the access log at all (else health and the checks only). */
export function readsLog(gate: EvidenceGate): boolean {
  return gate.maxErrorRate !== null || gate.maxLatencyMs !== null
}

/** Keeps the first FIRST_FAILURES of `into` and `more` together, oldest first. */
export function firstFailures(into: FailedRequest[], more: FailedRequest[]): FailedRequest[] {
  return [...into, ...more].sort((a, b) => a.at - b.at).slice(0, FIRST_FAILURES)
}

/** Where the dry run looks for the site that proxies to the app. */
export const NGINX_CONFIG_DIR = '/etc/nginx'

/**
 * Dry run: will the windows of a canary (`inputs` canary) or a watch (`watch`) on this host have
 * access log evidence, and why (from the output of `canaryEvidenceProbe`).
 */
export function canaryEvidence(
  probeOutput: string,
  settings: Pick<Settings, 'canary' | 'watch' | 'app'>,
  inputs: GateInputs = 'canary',
): LogEvidence {
  const { accessLog } = settings.canary
  const gate = settings[inputs]
  const app = settings.app.name
  const lines = probeOutput.split('\n').map((line) => line.trim())
  const log = lines.find((line) => line.startsWith('log '))?.slice(4)
  const recent = Number(lines.find((line) => line.startsWith('recent '))?.slice(7) ?? 0)
  const sites = (kind: string) =>
    lines.filter((line) => line.startsWith(`site ${kind} `)).map((line) => line.split(' ')[2]!)
  const add = `add \`${evidenceLogLine(settings)}\``
  const aborts = inputs === 'canary' ? 'every step would abort' : 'the watch would switch back'
  const off = offHint(inputs, gate)
  if (log === 'nodir') {
    return {
      available: false,
      blocking: true,
      why:
        `the directory of canary-access-log ${accessLog} does not exist, so nginx could not ` +
        `open the log the action's include writes (nginx -t fails): set canary-access-log to a ` +
        `file in a directory that exists (nginx's log directory)`,
    }
  }
  if (!readsLog(gate)) {
    return { available: false, blocking: false, why: `${inputs}-max-error-rate: off: health only` }
  }
  if (log === 'unreadable') {
    return {
      available: false,
      blocking: true,
      why:
        `${accessLog} is not readable by the deploy user, so ${aborts} (fail closed): let it ` +
        `read the file (e.g. the log's group, often adm), or ${off}`,
    }
  }
  if (recent > 0) {
    return {
      available: true,
      blocking: false,
      why: `${accessLog} already records requests to ${app}'s slots (${recent} in its last 64 KiB)`,
    }
  }
  const [canaryLine, inherits, own] = [sites('canary'), sites('inherits'), sites('own')]
  if (canaryLine.length > 0) {
    return {
      available: true,
      blocking: false,
      why: `${canaryLine.join(', ')} writes ${accessLog} (the canary access_log line)`,
    }
  }
  if (inherits.length > 0) {
    return {
      available: true,
      blocking: false,
      why:
        `${inherits.join(', ')} has no access_log of its own, so it inherits the one the ` +
        `action's include writes to ${accessLog} during a ${inputs}`,
    }
  }
  if (own.length > 0) {
    return {
      available: false,
      blocking: true,
      why:
        `${own.join(', ')} proxies to http://${app} with an access_log of its own, so it does ` +
        `not inherit the action's and ${aborts} (fail closed): ${add} to that server block, ` +
        `or ${off}`,
    }
  }
  return {
    available: false,
    blocking: false,
    why:
      `no file under ${NGINX_CONFIG_DIR} has \`proxy_pass http://${app};\`, so it cannot be ` +
      `told: a server without an access_log of its own inherits the action's; one with its ` +
      `own needs \`${evidenceLogLine(settings)}\``,
  }
}

/**
 * How to judge without the access log: `set \`canary-max-error-rate: off\` to judge on health
 * checks only` (with the latency limit to drop too, when one is set).
 */
export function offHint(inputs: GateInputs, gate: EvidenceGate): string {
  const latency = gate.maxLatencyMs === null ? '' : ` and drop \`${inputs}-max-latency\``
  const checks = inputs === 'watch' ? ' and watch-check-command' : ''
  return `set \`${inputs}-max-error-rate: off\`${latency} to judge on health checks${checks} only`
}
