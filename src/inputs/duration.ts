/**
 * Durations as operators write them in workflow files: `30s`, `2m`, `1h`, `500ms`, `1m30s`, or
 * plain seconds (`45`). Held in code as milliseconds.
 */

const MS_PER = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const

/** Units in descending order, each at most once; every number may have a fraction (`1.5s`). */
const WITH_UNITS =
  /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$/
const PLAIN_SECONDS = /^\d+(?:\.\d+)?$/

/**
 * Milliseconds for `text` (rounded to a whole millisecond), or `undefined` when it is not a
 * duration. Negative values and unknown units are not durations; zero is (`0s`, `0`): callers
 * decide whether zero makes sense.
 */
export function parseDuration(text: string): number | undefined {
  const value = text.trim()
  if (PLAIN_SECONDS.test(value)) return Math.round(Number(value) * MS_PER.s)
  const match = value === '' ? null : WITH_UNITS.exec(value)
  if (!match) return undefined
  const [, h = '0', m = '0', s = '0', ms = '0'] = match
  return Math.round(
    Number(h) * MS_PER.h + Number(m) * MS_PER.m + Number(s) * MS_PER.s + Number(ms) * MS_PER.ms,
  )
}
