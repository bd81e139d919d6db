/**
 * The log a person watches: one line per phase (per host, or per fleet when there are many hosts)
 * with its duration, a heartbeat while something takes a while, and warnings. The transcript
 * (every remote command and its output) goes to debug output only, shown when the run has step
 * debug logging on. Everything printed goes through {@link printable}: no NUL, escape or other
 * control byte reaches the log.
 */
import * as core from '@actions/core'

/** Up to this many hosts a phase prints one line per host; beyond, one line for the fleet. */
export const PER_HOST_LINES = 4
/** A wait prints a heartbeat after this long without a line. */
export const HEARTBEAT_MS = 5000

/**
 * `text` without control characters: ANSI escape sequences are dropped, and every other control
 * character (NUL, CR, ESC, DEL, C1) but tab and newline is removed.
 */
export function printable(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex
      .replace(/\x1b\[[0-?]*[ -/]*[@-~]/g, '')
      // eslint-disable-next-line no-control-regex
      .replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, '')
  )
}

/** 0.4s, 12.3s, 2m 05s. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`
  const seconds = Math.round(ms / 1000)
  return `${Math.floor(seconds / 60)}m ${String(seconds % 60).padStart(2, '0')}s`
}

/** A share as a percentage: `0.25%`, `12.5%`. */
export function formatRate(rate: number): string {
  return `${Number((rate * 100).toFixed(2))}%`
}

/** `120 ms`, `2.4 s`. */
export function formatLatency(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Number((ms / 1000).toFixed(2))} s`
}

/** `Deploying shop v2 to 2 hosts (blue-green)`, or `Rolling back shop on 2 hosts`. */
export function runHeadline(run: {
  app: string
  version: string
  hosts: string[]
  strategy: string
  rollback: boolean
}): string {
  const hosts = run.hosts.length === 1 ? run.hosts[0]! : `${run.hosts.length} hosts`
  return run.rollback
    ? `Rolling back ${run.app} on ${hosts}`
    : `Deploying ${run.app} ${run.version} to ${hosts} (${run.strategy})`
}

/** How one host did in one phase. */
export interface HostOutcome {
  host: string
  ms: number
  /** What happened, in a few words ("uploaded 4.4 KiB"); shown in per-host lines. */
  note?: string
  /** The error, when the phase failed on this host. */
  failed?: string
}

/** A failure's first line, cut at this length, follows a host's failed phase. */
const FAILURE_LENGTH = 160

/**
 * The line for one host's phase: `[web1] ship: uploaded 4.4 KiB (0.3s)`, or `[web1] health:
 * failed after 15.0s: <the first line of the error>` (the whole error ends the run).
 */
export function hostPhaseLine(title: string, outcome: HostOutcome): string {
  const { host, ms, note, failed } = outcome
  if (failed !== undefined) {
    const first = failed.split('\n')[0]!
    const reason =
      first.length > FAILURE_LENGTH ? `${first.slice(0, FAILURE_LENGTH - 3)}...` : first
    return `[${host}] ${title}: failed after ${formatDuration(ms)}${reason ? `: ${reason}` : ''}`
  }
  return `[${host}] ${title}${note ? `: ${note}` : ''} (${formatDuration(ms)})`
}

/**
 * The line for a phase over many hosts: `ship: 16 hosts (2.1s, slowest web7)`; with failures,
 * `ship: 14 of 16 hosts (2.1s, slowest web7); failed on web3, web9`.
 */
export function fleetPhaseLine(title: string, outcomes: HostOutcome[]): string {
  const failed = outcomes.filter((o) => o.failed !== undefined)
  const slowest = outcomes.reduce<HostOutcome | undefined>(
    (max, o) => (max === undefined || o.ms > max.ms ? o : max),
    undefined,
  )
  const done = outcomes.length - failed.length
  const count = failed.length === 0 ? `${done} hosts` : `${done} of ${outcomes.length} hosts`
  const timing = slowest ? ` (${formatDuration(slowest.ms)}, slowest ${slowest.host})` : ''
  const failures = failed.length === 0 ? '' : `; failed on ${failed.map((o) => o.host).join(', ')}`
  const notes = new Set(outcomes.map((o) => o.note))
  const note = failed.length === 0 && notes.size === 1 ? [...notes][0] : undefined
  return `${title}: ${count}${note ? `, ${note}` : ''}${timing}${failures}`
}

/**
 * The heartbeat of a phase still running on some hosts: `health, 6.0s: [web1] attempt 7, last
 * answer: ...`, or `lock, 6.0s: still running on web1, web2` when the hosts have nothing to say;
 * beyond a few hosts, a count of the rest.
 */
export function waitingLine(
  title: string,
  ms: number,
  pending: { host: string; status: string }[],
): string {
  const shown = pending.slice(0, PER_HOST_LINES)
  const rest = pending.length - shown.length
  const more = rest > 0 ? ` and ${rest} more` : ''
  const head = `${title}, ${formatDuration(ms)}:`
  if (shown.every((p) => p.status === '')) {
    return `${head} still running on ${shown.map((p) => p.host).join(', ')}${more}`
  }
  const each = shown.map((p) => `[${p.host}] ${p.status || 'still running'}`).join('; ')
  return `${head} ${each}${rest > 0 ? `;${more}` : ''}`
}

let lastLineAt = Date.now()

/** Prints a line (made printable) for everyone to see. */
export function info(text: string): void {
  core.info(printable(text))
  lastLineAt = Date.now()
}

export function warning(text: string): void {
  core.warning(printable(text))
  lastLineAt = Date.now()
}

/** Debug output: shown only with step debug logging (ACTIONS_STEP_DEBUG). */
export function debug(text: string): void {
  core.debug(printable(text))
}

/** How long since the last visible line. */
export function silentForMs(): number {
  return Date.now() - lastLineAt
}

/** Heartbeats of the work running now; the innermost (last started) one speaks. */
const heartbeats: (() => string)[] = []
let heartbeatTimer: NodeJS.Timeout | undefined

/**
 * Runs `work`; whenever nothing was printed for {@link HEARTBEAT_MS}, prints `heartbeat(elapsed)`
 * (a line saying what is still running), so a watched log never stands still for long. Nested
 * calls: the innermost one speaks.
 */
export async function withHeartbeat<T>(
  heartbeat: (elapsedMs: number) => string,
  work: () => Promise<T>,
): Promise<T> {
  const started = Date.now()
  const beat = () => heartbeat(Date.now() - started)
  heartbeats.push(beat)
  heartbeatTimer ??= setInterval(() => {
    const current = heartbeats[heartbeats.length - 1]
    if (current && silentForMs() >= HEARTBEAT_MS) info(current())
  }, 250)
  try {
    return await work()
  } finally {
    heartbeats.splice(heartbeats.lastIndexOf(beat), 1)
    if (heartbeats.length === 0) {
      clearInterval(heartbeatTimer)
      heartbeatTimer = undefined
    }
  }
}

/** The run's log: the transcript of each host (debug output) and the lines everyone sees. */
export class HostLogs {
  /** Every remote command a host runs and its output, as debug output. */
  sinkFor(host: string): (line: string) => void {
    return (line) => debug(`[${host}] ${line}`)
  }

  warning(text: string): void {
    warning(text)
  }
}

/**
 * A run-wide step (connect, smoke test, ...): a heartbeat while it runs, then one line with its
 * duration and what `note` says about its result.
 */
export async function step<T>(
  title: string,
  work: () => Promise<T>,
  note: (result: T) => string = () => '',
): Promise<T> {
  const started = Date.now()
  try {
    const result = await withHeartbeat(
      (ms) => `${title}, ${formatDuration(ms)}: still running`,
      work,
    )
    const said = note(result)
    info(`${title}${said ? `: ${said}` : ''} (${formatDuration(Date.now() - started)})`)
    return result
  } catch (error) {
    info(`${title}: failed after ${formatDuration(Date.now() - started)}`)
    throw error
  }
}
