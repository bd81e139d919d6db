/** Waiting for a new slot to become healthy, watching that its process stays alive meanwhile. */
import { setTimeout as sleep } from 'node:timers/promises'
import { HostError, errorMessage } from '../errors.js'
import type { HealthSettings } from '../inputs.js'
import { SLOT_EXITED, type SlotManager } from '../remote/commands/slot.js'
import type { Slot } from '../remote/state.js'
import type { RemoteHost } from '../ssh/connection.js'

const REQUEST_TIMEOUT_MS = 5000

/**
 * Polls `health.path` (and `health.versionPath`, whose body must contain the version) through the
 * SSH tunnel every interval until both pass or the timeout ends. A slot whose process exits while
 * booting fails at once, with the tail of its log.
 */
export async function waitHealthy(
  host: RemoteHost,
  slots: SlotManager,
  slot: Slot,
  port: number,
  health: HealthSettings,
  version: string,
): Promise<void> {
  const deadline = Date.now() + health.timeoutMs
  for (;;) {
    const alive = await host.tryExec(slots.checkAlive(slot, true), { step: 'health' })
    if (alive.exitCode === SLOT_EXITED) {
      throw new HostError(
        host.name,
        'health',
        `the new version exited while booting on ${slot} (port ${port}); last lines of ${slots.logName(slot)}:\n${alive.stdout.trimEnd()}`,
      )
    }
    const problem = await probe(host, port, health, version)
    if (problem === undefined) return
    if (Date.now() + health.intervalMs > deadline) {
      throw new HostError(
        host.name,
        'health',
        `${slot} slot (port ${port}) not healthy within health-timeout (${health.timeoutMs / 1000}s); last check: ${problem}`,
      )
    }
    await sleep(health.intervalMs)
  }
}

/** One round of checks; returns what is wrong, or undefined when healthy. */
async function probe(
  host: RemoteHost,
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
