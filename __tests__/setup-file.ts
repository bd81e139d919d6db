/** Runs in every test file: its temp dirs (test/tmp.ts) go when the file ends. */
import { afterAll, beforeEach } from 'vitest'
import { markFailed, removeTempDirs } from '../test/tmp.js'

beforeEach(({ onTestFailed }) => onTestFailed(markFailed))
afterAll(removeTempDirs)
