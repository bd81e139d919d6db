/**
 * Taking the deploy lock on a host: a command that takes `flock` and then holds it for as long as
 * its channel stays open (holdLock on the load balancer; the prepare block on an app host, which
 * also reads what the run decides from, in the same round trip). Closing stdin, ending the run or
 * losing the connection frees it: the lock can never go stale.
 */
import { info } from '../report/log.js'
import { HostError, RemoteCommandError } from '../common/errors.js'
import {
  LOCK_ACQUIRED,
  LOCK_TIMED_OUT,
  LOCK_WAITING,
  holdLock,
  lockedRead,
} from '../remote/commands/lock.js'
import type { Layout } from '../remote/layout.js'
import type { Shell } from '../remote/shell.js'
import { holdCommand, type Held } from '../ssh/held-exec.js'
import type { Host } from '../ssh/host.js'

/** A held lock, once its command's answer was read: only its release is left. */
export type HeldLock = Pick<Held<unknown>, 'release'>

/** Who holds the lock, written into the lock file for anyone who has to wait. */
export function lockHolder(runUrl: string, actor: string, now = new Date()): string {
  const run = runUrl || `a run outside GitHub Actions (pid ${process.pid})`
  return `${run} by ${actor || 'unknown'} since ${now.toISOString()}`
}

/** The seconds a lock command waits for another run (lock-timeout, rounded up). */
export function lockWaitSeconds(timeoutMs: number): number {
  return Math.ceil(timeoutMs / 1000)
}

/**
 * The deploy lock alone (the load balancer, which has no release layout to prepare) and, in the
 * same round trip, the file `read` as it is under the lock (the balancer's upstream file); a
 * failed read is an error of `step`.
 */
export async function acquireLockReading(
  host: Host,
  l: Layout,
  timeoutMs: number,
  holder: string,
  read: string,
  step: string,
): Promise<Held<string>> {
  const command = holdLock(l, lockWaitSeconds(timeoutMs), holder, read)
  return holdLocked(host, command, l, timeoutMs, lockedRead, step)
}

/**
 * Runs a lock command (its output: `WAITING <holder>` while another run holds the lock, then
 * `LOCKED`, then what `ready` parses) and resolves once `ready` has its value, the lock held.
 * Says once that it waits, naming the holder. A failure names the host and what failed: the
 * lock-timeout with the holder, the lock, or (after `LOCKED`) the step after it.
 */
export async function holdLocked<T>(
  host: Host,
  command: Shell,
  l: Layout,
  timeoutMs: number,
  ready: (stdout: string) => T | undefined,
  afterLock = 'prepare layout',
): Promise<Held<T>> {
  let toldWaiting = false
  let locked = false
  const watch = (stdout: string) => {
    const lines = stdout.split('\n')
    locked ||= lines.includes(LOCK_ACQUIRED)
    const waiting = lines.find((line) => line.startsWith(`${LOCK_WAITING} `))
    if (waiting === undefined || toldWaiting) return
    toldWaiting = true
    info(
      `[${host.name}] waiting for the deploy lock, held by ${waiting.slice(LOCK_WAITING.length + 1)}`,
    )
  }
  try {
    return await holdCommand(host, command, 'lock', ready, watch)
  } catch (error) {
    if (!(error instanceof RemoteCommandError)) throw error
    const { exitCode: code, stderr } = error
    if (code === LOCK_TIMED_OUT) {
      throw new HostError(
        host.name,
        'lock',
        `another deploy holds the lock and did not finish within lock-timeout (${timeoutMs / 1000}s); ${stderr.trim()}`,
      )
    }
    if (code === null) {
      throw new HostError(
        host.name,
        locked ? afterLock : 'lock',
        locked ? 'connection closed' : 'connection closed while taking the lock',
      )
    }
    if (locked) throw new RemoteCommandError(host.name, afterLock, code, stderr)
    throw new HostError(
      host.name,
      'lock',
      `could not take the lock ${l.lock} (exit ${code}): ${stderr.trim()}`,
    )
  }
}
