/**
 * Waiting in tests: poll for the condition a test waits for ({@link waitFor}), never a fixed sleep
 * that hopes it is long enough (the machine may be busy). A pause whose length is itself what
 * the test is about (load kept running, a host kept down) is {@link letTimePass}.
 */

export interface WaitOptions {
  /** What is awaited, for the timeout error: "the lock to be held on web1". */
  what: string
  /** Gives up after this long (generous by default: the machine is shared). */
  timeoutMs?: number
  /** Pause between two checks. */
  intervalMs?: number
}

/**
 * Checks `condition` until it returns a truthy value, and returns that value. A check that throws
 * counts as not yet. After `timeoutMs` it throws `timed out after N ms waiting for <what>`, with
 * the last error or value seen.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  { what, timeoutMs = 30_000, intervalMs = 50 }: WaitOptions,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const seen = await check(condition)
    if (seen.value) return seen.value as NonNullable<T>
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${seen.last})`)
    }
    await pause(Math.min(intervalMs, Math.max(0, deadline - Date.now())))
  }
}

async function check<T>(condition: () => T | Promise<T>): Promise<{ value?: T; last: string }> {
  try {
    const value = await condition()
    return { value, last: `last seen: ${JSON.stringify(value)}` }
  } catch (error) {
    return { last: `last error: ${error instanceof Error ? error.message : String(error)}` }
  }
}

/**
 * Lets `ms` pass on purpose: the duration is the test's subject (`why` says how), not a guess at
 * how long something takes. For anything that can be checked, use {@link waitFor}.
 */
export function letTimePass(ms: number, why: string): Promise<void> {
  void why
  return pause(ms)
}

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
