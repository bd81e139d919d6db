/**
 * test/host-scripts.ts, which `npm run lint:shell` hands to shellcheck, has every script the action
 * runs on a host: at least as many scripts of each file of src/remote as that file has `script(`
 * calls and rendered `#!/bin/sh` files.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { hostScripts, scriptBodies } from '../../test/host-scripts.js'

const REMOTE = join(import.meta.dirname, '../../src/remote')
const sources = [
  ...readdirSync(join(REMOTE, 'commands')).map((name) => join(REMOTE, 'commands', name)),
  join(REMOTE, 'probe.ts'),
]

describe('the host scripts shellcheck sees', () => {
  const scripts = hostScripts()

  it.each(sources.map((path) => [path.slice(REMOTE.length + 1), path]))(
    '%s: one per script( call and rendered file, each a different script',
    (_, path) => {
      const text = readFileSync(path, 'utf8')
      const lines = text.split('\n').filter((line) => !/^\s*(\*|\/\/)/.test(line))
      const sites =
        lines.filter((line) => /\bscript\(/.test(line)).length +
        lines.filter((line) => line.includes('`#!/bin/sh')).length
      const file = path.split('/').at(-1)!
      const bodies = new Set(scripts.filter((s) => s.file === file).map((s) => s.body))
      expect(bodies.size).toBeGreaterThanOrEqual(sites)
    },
  )

  it('reads each sh -c body of a command line, quotes included', () => {
    expect(scriptBodies(`{ sh -c 'echo '\\''a'\\''' sh x; } && { sh -c 'b' sh; }`)).toEqual([
      "echo 'a'",
      'b',
    ])
  })
})
