/**
 * Waiting for a new slot to become healthy, watching that its process stays alive meanwhile: by a
 * loop on the host that reports once (healthLoop), or, on a host with neither curl nor wget,
 * through the SSH tunnel (waitHealthy), as the smoke tests, previews and canary checks do.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { HostError, errorMessage } from '../common/errors.js'
import type { HealthSettings } from '../inputs/settings.js'
import {
  foreignListener,
  healthLoop,
  healthLoopFailure,
  parseHealthLoop,
} from '../remote/commands/health-loop.js'
import { checkPortOwner, PORT_FOREIGN } from '../remote/commands/processes.js'
import type { HttpClientChoice } from '../remote/commands/http.js'
import { SLOT_EXITED, type SlotManager } from '../remote/commands/slot.js'
import type { Shell } from '../remote/shell.js'
import type { Slot } from '../remote/state.js'
import type { ExecResult, Host } from '../ssh/host.js'

const REQUEST_TIMEOUT_MS = 5000
/** The first retry; each next one waits twice as long, up to health-interval. */
const FIRST_RETRY_MS = 50

/**
 * The health phase on the host: polls the slot as waitHealthy does (the same schedule, the same
 * checks, and for a slot this run started a restart by the process manager counts as a crash) and
 * reports once; see healthLoopChecks for its outcome.
 */
export function hostHealthLoop(
  slots: SlotManager,
  slot: Slot,
  port: number,
  health: HealthSettings,
  version: string,
  client: HttpClientChoice = 'auto',
  /** False for a slot reloaded in place: restarts from before this run are no crash. */
  startedByThisRun = true,
): Shell {
  const { path, versionPath, timeoutMs, intervalMs } = health
  const alive = slots.checkAlive(slot, startedByThisRun)
  const members = slots.members(slot)
  return healthLoop({
    port,
    path,
    versionPath,
    version,
    timeoutMs,
    intervalMs,
    alive,
    members,
    client,
  })
}

/**
 * What hostHealthLoop's output says: how many checks it took, or 'no-client' when the host has
 * neither curl nor wget (the caller then polls through the tunnel with waitHealthy). A slot that
 * is not healthy throws a HostError worded as waitHealthy words it.
 */
export function healthLoopChecks(
  host: Host,
  slots: SlotManager,
  slot: Slot,
  port: number,
  health: HealthSettings,
  result: ExecResult,
): number | 'no-client' {
  const report = parseHealthLoop(result.stdout)
  if (report.outcome === 'no-client') return 'no-client'
  const where = { slot, port, timeoutMs: health.timeoutMs, logName: slots.logName(slot) }
  const problem = healthLoopFailure(report, where, result.exitCode, result.stderr)
  if (problem !== undefined) throw new HostError(host.name, 'health', problem)
  return report.attempts
}

/**
 * Polls `health.path` (and `health.versionPath`, whose body must contain the version) through the
 * SSH tunnel (every interval, sooner at first) until both pass or the timeout ends. A slot whose
 * process exits while booting fails at once, with the tail of its log. `onAttempt` hears each failed check (for the
 * log's heartbeat); returns how many checks it took.
 */
export async function waitHealthy(
  host: Host,
  slots: SlotManager,
  slot: Slot,
  port: number,
  health: HealthSettings,
  version: string,
  onAttempt: (attempt: number, problem: string) => void = () => {},
  /** False for a slot reloaded in place: restarts from before this run are no crash. */
  startedByThisRun = true,
): Promise<number> {
  const deadline = Date.now() + health.timeoutMs
  // Checks at once, then after 50, 100, 200 ms ... up to health-interval: an app that boots fast
  // is seen soon after it is up, one that boots slowly is not polled harder than asked.
  for (let retry = 0; ; retry++) {
    const problem =
      (await checkSlot(host, slots, slot, port, health, version, 'boot', startedByThisRun)) ??
      (await portOwnerProblem(host, slots, slot, port, 'health'))
    if (problem === undefined) return retry + 1
    onAttempt(retry + 1, problem)
    const wait = Math.min(health.intervalMs, FIRST_RETRY_MS * 2 ** retry)
    if (Date.now() + wait > deadline) {
      throw new HostError(
        host.name,
        'health',
        `${slot} slot (port ${port}) not healthy within health-timeout (${health.timeoutMs / 1000}s); last check: ${problem}`,
      )
    }
    await sleep(wait)
  }
}

/**
 * When a health check runs: right after the slot started, while a canary step bakes, or during
 * the watch after the switch.
 */
export type CheckPhase = 'boot' | 'canary' | 'watch'

const EXITED_WHEN: Record<CheckPhase, string> = {
  boot: 'while booting',
  canary: 'during the canary',
  watch: 'during the watch',
}

/**
 * One health check of a slot: what is wrong, or undefined when healthy. A slot whose process has
 * exited fails at once (a HostError with the tail of its log), as there is nothing to wait for.
 */
export async function checkSlot(
  host: Host,
  slots: SlotManager,
  slot: Slot,
  port: number,
  health: HealthSettings,
  version: string,
  /** When the check runs, for the message. */
  phase: CheckPhase,
  /** This run started the slot (not so in a reload in place): a restart since is a crash. */
  startedByThisRun = true,
): Promise<string | undefined> {
  const exited = await exitedLogTail(host, slots, slot, 'health', startedByThisRun)
  if (exited !== undefined) {
    throw new HostError(
      host.name,
      'health',
      `the new version exited ${EXITED_WHEN[phase]} on ${slot} (port ${port}); last lines of ${slots.logName(slot)}:\n${exited}`,
    )
  }
  return probe(host, port, health, version)
}

/**
 * Right before the switch: the slot that is about to take the traffic still runs and still
 * passes its checks (it may have crashed after its health check, during a smoke test or while
 * other hosts were booting; a warm slot of a rollback was not checked at all).
 */
export async function recheckHealthy(
  host: Host,
  slots: SlotManager,
  slot: Slot,
  port: number,
  health: HealthSettings,
  version: string,
  /** This run started the slot: a restart by the process manager since then is a crash. */
  startedByThisRun = true,
): Promise<void> {
  const exited = await exitedLogTail(host, slots, slot, 'switch', startedByThisRun)
  if (exited !== undefined) {
    throw recheckError(host.name, slots, slot, port, version, { exited })
  }
  const problem =
    (await probe(host, port, health, version)) ??
    (await portOwnerProblem(host, slots, slot, port, 'switch'))
  if (problem !== undefined) {
    throw recheckError(host.name, slots, slot, port, version, { problem })
  }
}

/**
 * Where health runs through the tunnel (no curl or wget on the host), the one extra exec that
 * asks who listens on the slot's port: undefined when only the slot's own processes do (and one
 * does), else what is wrong. Another process answering for a booting slot is a HostError at once
 * (never healthy, whatever it answered); the switch's recheck words every problem itself.
 */
async function portOwnerProblem(
  host: Host,
  slots: SlotManager,
  slot: Slot,
  port: number,
  phase: 'health' | 'switch',
): Promise<string | undefined> {
  const owner = await host.tryExec(checkPortOwner(slots.members(slot), port), { step: phase })
  if (owner.exitCode === 0) return undefined
  const problem =
    owner.stdout.trim() || `port check failed (exit ${owner.exitCode}): ${owner.stderr.trim()}`
  if (owner.exitCode === PORT_FOREIGN && phase === 'health') {
    throw new HostError(host.name, phase, foreignListener(slot, problem))
  }
  return problem
}

/** The recheck's failure (here, or in the switch script): the slot exited, or is unhealthy. */
export function recheckError(
  host: string,
  slots: SlotManager,
  slot: Slot,
  port: number,
  version: string,
  failure: { exited: string } | { problem: string },
): HostError {
  const what = `${version} on the ${slot} slot (port ${port})`
  return new HostError(
    host,
    'switch',
    'exited' in failure
      ? `${what} is no longer running; nothing was switched. Last lines of ${slots.logName(slot)}:\n${failure.exited}`
      : `${what} no longer passes its health check (${failure.problem}); nothing was switched.`,
  )
}

/** The tail of the slot's log when its process is gone; undefined while it runs. */
async function exitedLogTail(
  host: Host,
  slots: SlotManager,
  slot: Slot,
  step: string,
  booting: boolean,
): Promise<string | undefined> {
  const alive = await host.tryExec(slots.checkAlive(slot, booting), { step })
  return alive.exitCode === SLOT_EXITED ? alive.stdout.trimEnd() : undefined
}

/** One round of checks; returns what is wrong, or undefined when healthy. */
async function probe(
  host: Host,
  port: number,
  health: HealthSettings,
  version: string,
): Promise<string | undefined> {
  try {
    const timeout = Math.min(REQUEST_TIMEOUT_MS, health.timeoutMs)
    const answer = await host.httpGet(port, health.path, timeout)
    if (answer.status < 200 || answer.status > 299) {
      return `GET ${health.path} answered ${answer.status}`
    }
    if (health.versionPath === '') return undefined
    const versionAnswer = await host.httpGet(port, health.versionPath, timeout)
    if (
      versionAnswer.status >= 200 &&
      versionAnswer.status <= 299 &&
      versionAnswer.body.includes(version)
    ) {
      return undefined
    }
    return `GET ${health.versionPath} answered ${versionAnswer.status} without '${version}' in its body (${JSON.stringify(versionAnswer.body.slice(0, 100))})`
  } catch (error) {
    return errorMessage(error)
  }
}
