/** Taking the deploy lock on a host over a channel that stays open for the whole run. */
import { info } from '../report/log.js'
import { HostError } from '../common/errors.js'
import { LOCK_ACQUIRED, LOCK_TIMED_OUT, LOCK_WAITING, holdLock } from '../remote/commands/lock.js'
import type { Layout } from '../remote/layout.js'
import type { Host } from '../ssh/host.js'

export interface HeldLock {
  /** Frees the lock (closes the channel's stdin) and waits until the host let go of it. */
  release(): Promise<void>
}

/** Who holds the lock, written into the lock file for anyone who has to wait. */
export function lockHolder(runUrl: string, actor: string, now = new Date()): string {
  const run = runUrl || `a run outside GitHub Actions (pid ${process.pid})`
  return `${run} by ${actor || 'unknown'} since ${now.toISOString()}`
}

export async function acquireLock(
  host: Host,
  l: Layout,
  timeoutMs: number,
  holder: string,
): Promise<HeldLock> {
  const channel = await host.openExec(holdLock(l, Math.ceil(timeoutMs / 1000), holder), 'lock')
  return new Promise((resolve, reject) => {
    let stdout = ''
    let stderr = ''
    let acquired = false
    let toldWaiting = false
    // The exit code comes with 'close' (an 'exit' event may fire before listeners exist).
    const closed = new Promise<void>((done) =>
      channel.on('close', (code: number | null | undefined) => {
        if (!acquired) reject(new HostError(host.name, 'lock', lockFailure(code)))
        done()
      }),
    )
    const lockFailure = (code: number | null | undefined) =>
      code === LOCK_TIMED_OUT
        ? `another deploy holds the lock and did not finish within lock-timeout (${timeoutMs / 1000}s); ${stderr.trim()}`
        : typeof code === 'number'
          ? `could not take the lock ${l.lock} (exit ${code}): ${stderr.trim()}`
          : 'connection closed while taking the lock'
    channel.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    channel.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      const lines = stdout.split('\n')
      const waiting = lines.find((line) => line.startsWith(LOCK_WAITING))
      if (waiting && !toldWaiting) {
        toldWaiting = true
        info(
          `[${host.name}] waiting for the deploy lock, held by ${waiting.slice(LOCK_WAITING.length + 1)}`,
        )
      }
      if (!acquired && lines.includes(LOCK_ACQUIRED)) {
        acquired = true
        resolve({
          release: async () => {
            channel.end()
            await closed
          },
        })
      }
    })
  })
}
