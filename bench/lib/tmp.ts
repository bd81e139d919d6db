/** Temp folders of one benchmark run, all under one folder that is removed when the process exits. */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

let root: string | undefined

export function tempDir(label: string): string {
  if (root === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'dzd-bench-'))
    root = dir
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  }
  const dir = join(root, label)
  mkdirSync(dir)
  return dir
}
