/** package.json's `engines` against the runtime action.yml names and every locked dependency. */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import semver from 'semver'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../../scripts/docs.js'

interface Lock {
  packages: Record<string, { engines?: { node?: string } | string[]; optional?: boolean }>
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string }
}
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as Lock
const engines = pkg.engines.node

describe('package.json engines', () => {
  it('is a valid range that includes Node 24, the runtime action.yml runs the bundle on', () => {
    expect(semver.validRange(engines)).not.toBeNull()
    expect(readFileSync(join(ROOT, 'action.yml'), 'utf8')).toMatch(/using: 'node24'/)
    expect(semver.satisfies('24.0.0', engines)).toBe(true)
  })

  it('matches the lock file', () => {
    expect(lock.packages['']?.engines).toEqual(pkg.engines)
  })

  it('asks for no Node version that a dependency does not support', () => {
    const conflicts = Object.entries(lock.packages)
      .filter(([path]) => path !== '')
      .flatMap(([path, entry]) => {
        const wanted = Array.isArray(entry.engines) ? undefined : entry.engines?.node
        if (wanted === undefined || semver.subset(engines, wanted)) return []
        return [`${path.replace(/^.*node_modules\//, '')} wants ${wanted}`]
      })
    expect(conflicts).toEqual([])
  })
})
