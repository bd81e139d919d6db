import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { InputError } from '../../src/inputs/reader.js'
import { readSettings } from '../../src/inputs/read-settings.js'
import { tempDir } from '../../test/tmp.js'

// Masking writes workflow commands to stdout; the tests need only the parsed result.
vi.mock('@actions/core', async (importOriginal) => ({
  ...(await importOriginal<typeof import('@actions/core')>()),
  setSecret: () => {},
}))

const dir = tempDir('settings')
const keyFile = join(dir, 'encrypted')
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'correct horse', '-f', keyFile])
const encrypted = readFileSync(keyFile, 'utf8')

/** Sets the inputs as the runner does (INPUT_<NAME>) and reads them; returns the problems. */
function problemsOf(inputs: Record<string, string>): readonly string[] {
  const all: Record<string, string> = {
    hosts: 'web1.example.com',
    'known-hosts': 'web1.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample',
    'app-name': 'shop',
    'start-command': 'node server.js',
    ...inputs,
  }
  for (const [name, value] of Object.entries(all)) vi.stubEnv(`INPUT_${name.toUpperCase()}`, value)
  try {
    readSettings()
  } catch (error) {
    if (error instanceof InputError) return error.problems
    throw error
  }
  return []
}

afterEach(() => {
  vi.unstubAllEnvs()
})

const WRONG_PASSPHRASE =
  "Input 'ssh-key-passphrase': it does not decrypt 'ssh-key' (wrong passphrase?)."

describe('readSettings', () => {
  it('decodes the key with its passphrase', () => {
    expect(problemsOf({ 'ssh-key': encrypted, 'ssh-key-passphrase': 'correct horse' })).toEqual([])
    expect(problemsOf({ 'ssh-key': encrypted, 'ssh-key-passphrase': 'wrong' })).toEqual([
      WRONG_PASSPHRASE,
    ])
  })

  it('reports a key that does not decode together with the other input problems', () => {
    // The known-hosts message mentions 'ssh-keygen': it is no problem of ssh-key's.
    const md5 = 'web1.example.com 43:51:43:a1:b5:fc:8b:b7:0a:3a:a9:b1:0f:66:73:a8'
    const problems = problemsOf({
      'ssh-key': encrypted,
      'ssh-key-passphrase': 'wrong',
      'known-hosts': md5,
    })
    expect(problems).toHaveLength(2)
    expect(problems[0]).toMatch(/^Input 'known-hosts': line 1 .* is an MD5 fingerprint/)
    expect(problems[1]).toBe(WRONG_PASSPHRASE)
  })

  it('does not decode a key whose passphrase was already reported missing', () => {
    expect(problemsOf({ 'ssh-key': encrypted })).toEqual([
      "Input 'ssh-key-passphrase' is required because 'ssh-key' is encrypted (expected the key's passphrase, e.g. from a secret).",
    ])
  })
})
