/** Temp folders of one benchmark run, all under one folder that is removed when the process exits. */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir as runTempDir } from '../../test/tmp.js'

let root: string | undefined

export function tempDir(label: string): string {
  root ??= runTempDir('bench')
  const dir = join(root, label)
  mkdirSync(dir)
  return dir
}
