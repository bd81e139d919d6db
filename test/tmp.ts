/**
 * Temp dirs of tests, benchmarks and the demo: `<os temp dir>/dzd-<label>-XXXXXX`, each removed by
 * {@link removeTempDirs} (vitest calls it after each test file, see __tests__/setup-file.ts; the
 * demo when it ends) and, as a backstop, when the process exits (also on SIGINT and SIGTERM).
 *
 * `DZD_KEEP_TMP=1` keeps them when something failed (a failed test, a demo or benchmark that exits
 * non-zero) and prints where they are; a run that passes removes them either way.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { onProcessExit } from './hosts/cleanup.js'

/** Set to 1 to keep the temp dirs of a failed run for a look. */
export const KEEP_TMP_VARIABLE = 'DZD_KEEP_TMP'

const owned = new Set<string>()
let failed = false
let hooked = false

/** A fresh `dzd-<label>-XXXXXX` under the OS temp dir, removed with the others. */
export function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `dzd-${label}-`))
  owned.add(dir)
  if (!hooked) {
    hooked = true
    onProcessExit(() => {
      if (process.exitCode !== undefined && Number(process.exitCode) !== 0) failed = true
      removeTempDirs()
    })
  }
  return dir
}

/** Something failed: with DZD_KEEP_TMP=1, {@link removeTempDirs} keeps the dirs. */
export function markFailed(): void {
  failed = true
}

export const keepTmpRequested = (): boolean => process.env[KEEP_TMP_VARIABLE] === '1'

/** Removes every dir {@link tempDir} made so far (or, after a failure with DZD_KEEP_TMP=1, lists them). */
export function removeTempDirs(): void {
  if (owned.size === 0) return
  if (failed && keepTmpRequested()) {
    process.stderr.write(`${KEEP_TMP_VARIABLE}=1: kept ${[...owned].join(' ')}\n`)
  } else {
    for (const dir of owned) rmSync(dir, { recursive: true, force: true })
  }
  owned.clear()
}
