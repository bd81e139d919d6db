import type { Phase, PhaseTiming } from '../report/model.js'

/** Runs `work` and appends its phase timing to `into`, marking it failed when it throws. */
export async function timed<T>(
  into: PhaseTiming[],
  phase: Phase,
  work: () => Promise<T>,
): Promise<T> {
  const startedAt = Date.now()
  try {
    const result = await work()
    into.push({ phase, startedAt, endedAt: Date.now() })
    return result
  } catch (error) {
    into.push({ phase, startedAt, endedAt: Date.now(), failed: true })
    throw error
  }
}
