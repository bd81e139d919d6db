/** Pure figures of bench/scale: per-phase medians over runs and the ratio to one host. */
import { median } from './stats.js'

/**
 * Per phase, the median over `runs` (a phase missing from a run counts as 0 there), in the order
 * in which phases first appear.
 */
export function medianPhases(runs: Map<string, number>[]): Map<string, number> {
  const names = [...new Set(runs.flatMap((r) => [...r.keys()]))]
  return new Map(names.map((p) => [p, median(runs.map((r) => r.get(p) ?? 0))]))
}

/** `2.16×`: `ms` against `base`. */
export const ratio = (ms: number, base: number): string => `${(ms / base).toFixed(2)}×`
