/**
 * A window of real traffic to the new version, judged as it comes: a canary step's bake, or the
 * watch after a switch. Every health-interval, each new slot gets a health check (two failures
 * in a row end the window; one slow answer under load does not) and each host's evidence log is
 * read since the last time, summed over the hosts into the window's record; once the gate's
 * minimum of requests came in, figures above a limit end it at once. It fails closed: without a
 * readable log, with a log that saw none of the app's requests on some host, or with fewer
 * requests than the minimum even after going on for EXTENSION_FACTOR times its length.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import * as core from '@actions/core'
import { HostError, errorMessage } from '../common/errors.js'
import { forEachParallel } from '../common/parallel.js'
import type { DeployContext } from '../deploy/context.js'
import type { HostDeploy } from '../deploy/host-deploy.js'
import type { EvidenceGate } from '../inputs/settings.js'
import { evidenceLogLine } from '../nginx/evidence-log.js'
import type { JudgedWindow } from '../report/model.js'
import { formatDuration, formatLatency, withHeartbeat } from '../report/log.js'
import {
  addCounts,
  addLatencies,
  firstFailures,
  judge,
  NO_COUNTS,
  offHint,
  p99,
  readsLog,
  type GateInputs,
  type Seen,
} from './evidence.js'
import { evidenceLog, newSlotHealthProblem } from './host.js'

/** A window that saw fewer requests than the gate's minimum goes on, up to this many times its length. */
export const EXTENSION_FACTOR = 3
const FAILED_CHECKS_TO_ABORT = 2

export interface WindowSpec {
  /** How the log names it: `Canary 10%`, `Watch`. */
  title: string
  /** Whose inputs judge it (`canary-*`, `watch-*`): named in messages, and the errors' step. */
  inputs: GateInputs
  gate: EvidenceGate
  durationMs: number
  /** The input that gave `durationMs`, for messages: `canary-step-duration`, `watch`. */
  durationInput: string
  /** The window's record for the summary, filled in as it goes. */
  record: JudgedWindow
  /** Every health-interval, after the reads (watch-check-command); throws to end the window. */
  eachInterval?: () => Promise<void>
  /** Once the window passed (canary-check-command on each host); throws to fail it. */
  atEnd?: () => Promise<void>
}

/**
 * Judges the new slots of `hosts` for the window; returns when it passed, throws what ended it
 * (the record then says `aborted`, why, and `failClosed` when it was for want of evidence).
 */
export async function judgeWindow(
  ctx: DeployContext,
  hosts: HostDeploy[],
  spec: WindowSpec,
): Promise<void> {
  const { record } = spec
  const started = Date.now()
  const progress = new Progress(spec, started)
  try {
    await withHeartbeat(
      () => progress.line(),
      () => run(ctx, hosts, spec, progress),
    )
  } catch (error) {
    record.verdict = 'aborted'
    record.note ??= errorMessage(error)
    throw error
  } finally {
    record.ms = Date.now() - started
  }
}

/** Where the window is: what it saw, and until when it goes on. */
class Progress {
  seen: Seen = { counts: NO_COUNTS, latencies: new Map() }

  constructor(
    private readonly spec: WindowSpec,
    readonly started: number,
  ) {}

  /** Fewer requests than the minimum so far (only when the log is judged). */
  get tooFew(): boolean {
    return readsLog(this.spec.gate) && this.seen.counts.requests < this.spec.gate.minRequests
  }

  /** When the window ends: its length, or while too few requests came in, the bound. */
  get deadline(): number {
    const factor = this.tooFew ? EXTENSION_FACTOR : 1
    return this.started + factor * this.spec.durationMs
  }

  /** The heartbeat (see windowProgress). */
  line(): string {
    const waiting = Date.now() >= this.started + this.spec.durationMs && this.tooFew
    return windowProgress(this.spec, this.deadline - Date.now(), waiting)
  }
}

async function run(
  ctx: DeployContext,
  hosts: HostDeploy[],
  spec: WindowSpec,
  progress: Progress,
): Promise<void> {
  const { gate, inputs, record } = spec
  const logged = readsLog(gate)
  const offsets = logged ? await logOffsets(ctx, hosts, spec) : new Map<HostDeploy, number>()
  if (logged) record.counts = NO_COUNTS
  const appRequests = new Map<HostDeploy, number>()
  const failedChecks = new Map<HostDeploy, number>()
  core.info(
    `${spec.title}: judging the new version's traffic for ${formatDuration(spec.durationMs)}`,
  )
  for (;;) {
    const left = progress.deadline - Date.now()
    if (left <= 0) break
    await sleep(Math.min(ctx.settings.health.intervalMs, left))
    await forEachParallel(hosts, ctx.settings.ssh.maxParallel, async (h) => {
      const problem = await newSlotHealthProblem(h, inputs)
      const failures = problem === undefined ? 0 : (failedChecks.get(h) ?? 0) + 1
      failedChecks.set(h, failures)
      if (problem !== undefined && failures >= FAILED_CHECKS_TO_ABORT) {
        throw new HostError(
          h.name,
          inputs,
          `health check failed ${failures} times in a row: ${problem}`,
        )
      }
      const offset = offsets.get(h)
      if (offset === undefined) return
      const read = await evidenceLog(h, offset)
      if (read === null) return
      offsets.set(h, read.offset)
      appRequests.set(h, (appRequests.get(h) ?? 0) + read.appRequests)
      const { seen } = progress
      progress.seen = {
        counts: addCounts(seen.counts, read.counts),
        latencies: addLatencies(seen.latencies, read.latencies),
      }
      record.firstFailures = firstFailures(record.firstFailures, read.failures)
    })
    if (logged) {
      record.counts = progress.seen.counts
      record.p99Ms = p99(progress.seen.latencies)
      const judged = judge(progress.seen, gate, inputs)
      if (judged.verdict === 'aborted') throw new Error(judged.reason)
    }
    await spec.eachInterval?.()
  }
  if (logged) {
    const blind = hosts.find((h) => (appRequests.get(h) ?? 0) === 0)
    if (blind)
      throw failClosed(record, new HostError(blind.name, inputs, noRequestsLogged(ctx, spec)))
    if (progress.tooFew) throw failClosed(record, new Error(tooFew(spec, progress)))
  }
  await spec.atEnd?.()
  if (!logged) {
    record.note = `${inputs}-max-error-rate: off: judged on health${inputs === 'watch' ? ' and watch-check-command' : ''} only`
    return
  }
  record.verdict = 'passed'
  if (Date.now() - progress.started > spec.durationMs + ctx.settings.health.intervalMs) {
    record.note = `went on for ${formatDuration(Date.now() - progress.started)} until ${inputs}-min-requests (${gate.minRequests}) came in`
  }
}

function failClosed(record: JudgedWindow, error: Error): Error {
  record.failClosed = true
  return error
}

/**
 * Where each host's evidence log ends now. Without a readable log the window has no evidence: it
 * fails closed.
 */
async function logOffsets(
  ctx: DeployContext,
  hosts: HostDeploy[],
  spec: WindowSpec,
): Promise<Map<HostDeploy, number>> {
  const offsets = new Map<HostDeploy, number>()
  await forEachParallel(hosts, ctx.settings.ssh.maxParallel, async (h) => {
    const read = await evidenceLog(h)
    if (read === null) {
      throw failClosed(spec.record, new HostError(h.name, spec.inputs, noReadableLog(ctx, spec)))
    }
    offsets.set(h, read.offset)
  })
  return offsets
}

/** `the canary fails closed` / `the watch fails closed`. */
function failsClosed(spec: WindowSpec): string {
  return `no evidence, so the ${spec.inputs} fails closed`
}

function noReadableLog(ctx: DeployContext, spec: WindowSpec): string {
  const { accessLog } = ctx.settings.canary
  return (
    `${failsClosed(spec)}: cannot read the access log ${accessLog} (missing, ` +
    `or not readable by the deploy user). The action's include writes it during a ` +
    `${spec.inputs}: let the deploy user read it (e.g. add it to the log's group, often adm), ` +
    `set canary-access-log to a file it can read, or ${offHint(spec.inputs, spec.gate)}.`
  )
}

function noRequestsLogged(ctx: DeployContext, spec: WindowSpec): string {
  const { canary, app } = ctx.settings
  const what = spec.inputs === 'canary' ? 'bake' : 'watch'
  return (
    `${failsClosed(spec)}: the access log ${canary.accessLog} recorded no ` +
    `request to ${app.name}'s slots during the ${spec.durationMs / 1000}s ${what}, so the ` +
    `site that serves http://${app.name} does not write it (a server with an access_log of its ` +
    `own does not inherit the action's), or no traffic came in. Add \`${evidenceLogLine(ctx.settings)}\` ` +
    `to the server block that has \`proxy_pass http://${app.name};\` (next to its own ` +
    `access_log), or ${offHint(spec.inputs, spec.gate)}.`
  )
}

function tooFew(spec: WindowSpec, progress: Progress): string {
  const { inputs, gate } = spec
  const n = progress.seen.counts.requests
  const took = formatDuration(Date.now() - progress.started)
  return (
    `${failsClosed(spec)}: only ${n} request(s) reached the new version in ${took} ` +
    `(${EXTENSION_FACTOR} × ${spec.durationInput}), fewer than ${inputs}-min-requests ` +
    `(${gate.minRequests}). Send it traffic during the ${inputs}, or set ` +
    `\`${inputs}-min-requests: 0\` to judge whatever comes in.`
  )
}

/**
 * The window's heartbeat: `Watch: 420 requests, 1 5xx (0.2%), p99 120 ms so far, 42.0s left`;
 * `waiting` (past its length, fewer requests than the minimum): `..., waiting for 20 requests,
 * 12.0s left of 3 × watch`.
 */
export function windowProgress(spec: WindowSpec, leftMs: number, waiting = false): string {
  const { record, title } = spec
  const left = formatDuration(Math.max(0, leftMs))
  const total = record.counts
  if (total === null) return `${title}: judged on health only, ${left} left`
  const rate = total.requests === 0 ? 0 : total.errors / total.requests
  const latency = record.p99Ms === null ? '' : `, p99 ${formatLatency(record.p99Ms)}`
  const figures = `${total.requests} requests, ${total.errors} 5xx (${(100 * rate).toFixed(1)}%)${latency} so far`
  if (!waiting) return `${title}: ${figures}, ${left} left`
  const want = `waiting for ${spec.gate.minRequests} requests`
  return `${title}: ${figures}, ${want}, ${left} left of ${EXTENSION_FACTOR} × ${spec.durationInput}`
}
