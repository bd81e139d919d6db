import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runBuild } from '../../src/release/index.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'release-build-'))
})
afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

describe('runBuild', () => {
  it('runs the command through sh -c in the given directory', async () => {
    await runBuild('mkdir -p build && echo "built in $(pwd)" > build/out.txt', dir)
    expect(readFileSync(join(dir, 'build/out.txt'), 'utf8')).toBe(`built in ${dir}\n`)
  })

  it('passes the environment on', async () => {
    process.env.RELEASE_BUILD_TEST = 'from-env'
    try {
      await runBuild('printf %s "$RELEASE_BUILD_TEST" > env.txt', dir)
    } finally {
      delete process.env.RELEASE_BUILD_TEST
    }
    expect(readFileSync(join(dir, 'env.txt'), 'utf8')).toBe('from-env')
  })

  it('throws with the exit code and the command when it fails', async () => {
    await expect(runBuild('echo building; exit 3', dir)).rejects.toThrow(
      'build-command failed (exit 3): echo building; exit 3',
    )
    await expect(runBuild('no-such-command-xyz', dir)).rejects.toThrow(
      'build-command failed (exit 127): no-such-command-xyz',
    )
  })

  it('names build-command and sh when the runner has no sh on PATH (Windows without Git Bash)', async () => {
    const path = process.env.PATH
    process.env.PATH = dir // an empty directory: no sh in it
    try {
      await expect(runBuild('npm run build', dir)).rejects.toThrow(
        `build-command runs with 'sh -c' on the runner, and there is no sh on its PATH (Linux and macOS runners have one; on Windows put Git for Windows' bin directory on PATH, or run the command in a step of its own: README "Supported runners"): npm run build`,
      )
    } finally {
      process.env.PATH = path
    }
  })

  it('does nothing for an empty command', async () => {
    await expect(runBuild('  ', dir)).resolves.toBeUndefined()
  })
})
