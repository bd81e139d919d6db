import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { privateKeyProblem } from '../../src/inputs/private-key.js'
import { tempDir } from '../../test/tmp.js'

const dir = tempDir('key')
function makeKey(name: string, passphrase: string, extra: string[] = []): string {
  const file = join(dir, name)
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-f', file, ...extra])
  return readFileSync(file, 'utf8')
}
const plain = makeKey('plain', '')
const encrypted = makeKey('encrypted', 'correct horse')
const publicKey = readFileSync(join(dir, 'plain.pub'), 'utf8')

describe('privateKeyProblem', () => {
  it('accepts a plain key and an encrypted key with its passphrase', () => {
    expect(privateKeyProblem(plain, '')).toBeUndefined()
    expect(privateKeyProblem(encrypted, 'correct horse')).toBeUndefined()
  })

  it.each([
    [encrypted, '', "Input 'ssh-key': the key is encrypted; set 'ssh-key-passphrase'."],
    [
      encrypted,
      'wrong',
      "Input 'ssh-key-passphrase': it does not decrypt 'ssh-key' (wrong passphrase?).",
    ],
    [
      publicKey,
      '',
      "Input 'ssh-key': this is a public key; give the private key (the file without .pub).",
    ],
  ])('reports %#', (key, passphrase, message) => {
    expect(privateKeyProblem(key, passphrase)).toBe(message)
  })

  it("names proxy-key and its passphrase when checking the jump host's key", () => {
    expect(privateKeyProblem(encrypted, '', 'proxy-key')).toBe(
      "Input 'proxy-key': the key is encrypted; set 'proxy-key-passphrase'.",
    )
    expect(privateKeyProblem(encrypted, 'wrong', 'proxy-key')).toBe(
      "Input 'proxy-key-passphrase': it does not decrypt 'proxy-key' (wrong passphrase?).",
    )
    expect(privateKeyProblem(encrypted, 'correct horse', 'proxy-key')).toBeUndefined()
  })

  it('names the expected format for garbage, without echoing the input', () => {
    const problem = privateKeyProblem('not a key at all', '')
    expect(problem).toMatch(/^Input 'ssh-key': not a private key ssh2 can read/)
    expect(problem).not.toContain('not a key at all')
  })
})
