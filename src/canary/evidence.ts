/**
 * Canary analysis (pure): what the access logs say about a step, and the verdict. The remote side
 * (src/remote/commands/canary.ts) reduces a log to `<upstream> <requests> <5xx>` lines.
 */
import type { CanarySettings, Settings } from '../inputs/settings.js'

/** Requests and 5xx answers of one upstream server. */
export interface Counts {
  requests: number
  errors: number
}

/** One host's access log since an offset. */
export type LogReading =
  { missing: true } | { missing: false; size: number; byUpstream: Map<string, Counts> }

/**
 * The access log the action's own include writes on app hosts during a canary run, while nginx
 * sends traffic to the new slot (see `UpstreamSpec.canaryLog`): the canary-access-log, for
 * requests to either slot.
 */
export function canaryLogSpec(
  settings: Pick<Settings, 'strategy' | 'canary' | 'slots'>,
): { path: string; ports: number[] } | undefined {
  if (settings.strategy !== 'canary') return undefined
  return {
    path: settings.canary.accessLog,
    ports: [settings.slots.bluePort, settings.slots.greenPort],
  }
}

/** The line that makes a server with its own `access_log` write the canary log too. */
export function canaryLogLine(settings: Pick<Settings, 'canary' | 'app'>): string {
  return `access_log ${settings.canary.accessLog} ${settings.app.name}_canary;`
}

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

/** Where the dry run looks for the site that proxies to the app. */
export const NGINX_CONFIG_DIR = '/etc/nginx'

/**
 * Dry run: will a canary on this host have access log evidence, and why (from the output of
 * `canaryEvidenceProbe`). `blocking`: the run would fail (nginx -t, or the gate failing closed).
 */
export interface CanaryEvidence {
  available: boolean
  why: string
  blocking: boolean
}

export function canaryEvidence(
  probeOutput: string,
  settings: Pick<Settings, 'canary' | 'app'>,
): CanaryEvidence {
  const { accessLog, healthOnly } = settings.canary
  const app = settings.app.name
  const lines = probeOutput.split('\n').map((line) => line.trim())
  const log = lines.find((line) => line.startsWith('log '))?.slice(4)
  const recent = Number(lines.find((line) => line.startsWith('recent '))?.slice(7) ?? 0)
  const sites = (kind: string) =>
    lines.filter((line) => line.startsWith(`site ${kind} `)).map((line) => line.split(' ')[2]!)
  const add = `add \`${canaryLogLine(settings)}\``
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
  if (healthOnly) {
    return { available: false, blocking: false, why: 'canary-max-error-rate: off: health only' }
  }
  if (log === 'unreadable') {
    return {
      available: false,
      blocking: true,
      why:
        `${accessLog} is not readable by the deploy user, so every step would abort (fail ` +
        `closed): let it read the file (e.g. the log's group, often adm), or set ` +
        `\`canary-max-error-rate: off\` to judge on health checks only`,
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
        `action's include writes to ${accessLog} during a canary`,
    }
  }
  if (own.length > 0) {
    return {
      available: false,
      blocking: true,
      why:
        `${own.join(', ')} proxies to http://${app} with an access_log of its own, so it does ` +
        `not inherit the action's and every step would abort (fail closed): ${add} to that ` +
        `server block, or set \`canary-max-error-rate: off\` to judge on health checks only`,
    }
  }
  return {
    available: false,
    blocking: false,
    why:
      `no file under ${NGINX_CONFIG_DIR} has \`proxy_pass http://${app};\`, so it cannot be ` +
      `told: a server without an access_log of its own inherits the action's; one with its ` +
      `own needs \`${canaryLogLine(settings)}\``,
  }
}
