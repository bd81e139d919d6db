import pLimit from 'p-limit'
import { MultiHostError } from './errors.js'

/**
 * Runs `task` for every item, at most `maxParallel` at once, and waits for all of them. If any
 * failed, throws one MultiHostError naming every failure (not just the first).
 */
export async function forEachParallel<T, R>(
  items: readonly T[],
  maxParallel: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const limit = pLimit(maxParallel)
  const settled = await Promise.allSettled(items.map((item) => limit(() => task(item))))
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [toError(s.reason)] : []))
  if (failures.length > 0) throw failures.length === 1 ? failures[0] : new MultiHostError(failures)
  return settled.map((s) => (s as PromiseFulfilledResult<R>).value)
}

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason))
}
