import { createHmac, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  fingerprint,
  keyTypeOfBlob,
  keysForHost,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
  verifyHostKey,
} from '../../src/ssh/known-hosts.js'

function blob(type: string, body: string): Buffer {
  const name = Buffer.from(type)
  const length = Buffer.alloc(4)
  length.writeUInt32BE(name.length)
  return Buffer.concat([length, name, Buffer.from(body)])
}

const ed = blob('ssh-ed25519', 'key-one')
const other = blob('ssh-ed25519', 'key-two')
const rsa = blob('ssh-rsa', 'rsa-key')
const b64 = (b: Buffer) => b.toString('base64')

function hashed(name: string): string {
  const salt = randomBytes(20)
  const hash = createHmac('sha1', salt).update(name).digest('base64')
  return `|1|${salt.toString('base64')}|${hash}`
}

describe('parseKnownHosts', () => {
  it('reads patterns, markers, and skips comments and blank lines', () => {
    const entries = parseKnownHosts(
      `# comment\n\nweb1,10.0.0.1 ssh-ed25519 ${b64(ed)} user@x\n@revoked * ssh-rsa ${b64(rsa)}\n`,
    )
    expect(entries).toEqual([
      { patterns: ['web1', '10.0.0.1'], keyType: 'ssh-ed25519', keyBase64: b64(ed), marker: '' },
      { patterns: ['*'], keyType: 'ssh-rsa', keyBase64: b64(rsa), marker: '@revoked' },
    ])
  })
})

describe('verifyHostKey', () => {
  it('accepts a plain entry', () => {
    const entries = parseKnownHosts(`web1 ssh-ed25519 ${b64(ed)}`)
    expect(verifyHostKey(entries, 'web1', 22, ed)).toEqual({ ok: true })
  })

  it('accepts a hashed entry, and hashed [host]:port for other ports', () => {
    const entries = parseKnownHosts(
      `${hashed('web1')} ssh-ed25519 ${b64(ed)}\n${hashed('[web2]:2222')} ssh-ed25519 ${b64(other)}`,
    )
    expect(verifyHostKey(entries, 'web1', 22, ed).ok).toBe(true)
    expect(verifyHostKey(entries, 'web2', 2222, other).ok).toBe(true)
    expect(verifyHostKey(entries, 'web2', 22, other).ok).toBe(false)
  })

  it('needs the [host]:port form when the port is not 22', () => {
    const entries = parseKnownHosts(`web1 ssh-ed25519 ${b64(ed)}`)
    const verdict = verifyHostKey(entries, 'web1', 2222, ed)
    expect(verdict).toMatchObject({ ok: false, reason: 'unknown' })
    expect(verdict.ok || verdict.message).toContain(`[web1]:2222 ssh-ed25519 ${b64(ed)}`)
  })

  it('matches wildcards and honours negation', () => {
    const entries = parseKnownHosts(`*.example.com,!bad.example.com ssh-ed25519 ${b64(ed)}`)
    expect(verifyHostKey(entries, 'web.example.com', 22, ed).ok).toBe(true)
    expect(verifyHostKey(entries, 'bad.example.com', 22, ed).ok).toBe(false)
  })

  it('rejects an unknown host with a paste-ready line and the fingerprint', () => {
    const verdict = verifyHostKey([], '10.1.2.3', 22, ed)
    expect(verdict).toEqual({
      ok: false,
      reason: 'unknown',
      message:
        `Host 10.1.2.3 is not in known-hosts; it presented ssh-ed25519 ${fingerprint(ed)}. ` +
        'Check the fingerprint out of band (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the host), ' +
        `then add this line to known-hosts:\n10.1.2.3 ssh-ed25519 ${b64(ed)}`,
    })
  })

  it('rejects a changed key, naming both fingerprints', () => {
    const entries = parseKnownHosts(`web1 ssh-ed25519 ${b64(ed)}`)
    const verdict = verifyHostKey(entries, 'web1', 22, other)
    expect(verdict.ok).toBe(false)
    if (verdict.ok) return
    expect(verdict.reason).toBe('changed')
    expect(verdict.message).toContain(
      `HOST KEY MISMATCH for web1: known-hosts has ssh-ed25519 ${fingerprint(ed)}`,
    )
    expect(verdict.message).toContain(`presented ssh-ed25519 ${fingerprint(other)}`)
    expect(verdict.message).toContain(`\nweb1 ssh-ed25519 ${b64(other)}`)
  })

  it('rejects a @revoked key even when another line trusts it', () => {
    const entries = parseKnownHosts(
      `web1 ssh-ed25519 ${b64(ed)}\n@revoked web1 ssh-ed25519 ${b64(ed)}`,
    )
    expect(verifyHostKey(entries, 'web1', 22, ed)).toMatchObject({ ok: false, reason: 'revoked' })
  })
})

describe('key helpers', () => {
  it('reads the key type from the blob and formats the OpenSSH fingerprint', () => {
    expect(keyTypeOfBlob(rsa)).toBe('ssh-rsa')
    expect(fingerprint(ed)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/)
  })

  it('prefers host-key algorithms that known_hosts can verify', () => {
    const entries = keysForHost(parseKnownHosts(`web1 ssh-rsa ${b64(rsa)}`), 'web1', 22)
    expect(preferredHostKeyAlgorithms(entries).slice(0, 4)).toEqual([
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
      'ssh-ed25519',
    ])
  })
})

describe('SHA256 fingerprint pins', () => {
  const pin = fingerprint(ed)

  it('parses a bare pin (any host), a pin for named hosts, and ssh-keygen -l output', () => {
    const entries = parseKnownHosts(
      [
        pin,
        `web1,[web2]:2222 ${pin}`,
        `256 ${pin} root@web1 (ED25519)`,
        `256 ${pin} root@web1 (ECDSA)`,
        `@revoked * ${pin}=`,
      ].join('\n'),
    )
    expect(entries).toEqual([
      { patterns: ['*'], keyType: '', keyBase64: '', marker: '', fingerprint: pin },
      {
        patterns: ['web1', '[web2]:2222'],
        keyType: '',
        keyBase64: '',
        marker: '',
        fingerprint: pin,
      },
      { patterns: ['*'], keyType: 'ssh-ed25519', keyBase64: '', marker: '', fingerprint: pin },
      {
        patterns: ['*'],
        keyType: 'ecdsa-sha2-nistp256',
        keyBase64: '',
        marker: '',
        fingerprint: pin,
      },
      { patterns: ['*'], keyType: '', keyBase64: '', marker: '@revoked', fingerprint: pin },
    ])
  })

  it('skips malformed and MD5 fingerprints (the input check reports them)', () => {
    expect(
      parseKnownHosts('SHA256:short\nMD5:43:51:43:a1:b5:fc:8b:b7:0a:3a:a9:b1:0f:66:73:a8'),
    ).toEqual([])
  })

  it('accepts the key whose fingerprint is pinned, on any port', () => {
    expect(verifyHostKey(parseKnownHosts(pin), 'web1', 22, ed)).toEqual({ ok: true })
    expect(verifyHostKey(parseKnownHosts(pin), 'web9', 2222, ed)).toEqual({ ok: true })
    expect(verifyHostKey(parseKnownHosts(`web1 ${pin}`), 'web1', 22, ed)).toEqual({ ok: true })
  })

  it('rejects another key, naming the pin and the key to pin instead', () => {
    const verdict = verifyHostKey(parseKnownHosts(pin), 'web1', 22, other)
    expect(verdict).toEqual({
      ok: false,
      reason: 'changed',
      message:
        `HOST KEY MISMATCH for web1: known-hosts has the pin ${pin} but the host presented ` +
        `ssh-ed25519 ${fingerprint(other)}. Someone may be intercepting the connection, or the ` +
        `host was reinstalled. A fingerprint pin matches one key of the host: if the pinned key is ` +
        `another of its keys, pin its ssh-ed25519 key instead (ssh-keygen -lf ` +
        `/etc/ssh/ssh_host_ed25519_key.pub on the host). If you verified the new key, replace its ` +
        `known-hosts line with:\nweb1 ssh-ed25519 ${b64(other)}`,
    })
  })

  it('binds a pin for named hosts to those hosts only', () => {
    const entries = parseKnownHosts(`web1 ${pin}`)
    const verdict = verifyHostKey(entries, 'web2', 22, ed)
    expect(verdict).toMatchObject({ ok: false, reason: 'unknown' })
  })

  it('honours @revoked for a pinned fingerprint', () => {
    const entries = parseKnownHosts(`web1 ssh-ed25519 ${b64(ed)}\n@revoked * ${pin}`)
    expect(verifyHostKey(entries, 'web1', 22, ed)).toMatchObject({ ok: false, reason: 'revoked' })
  })

  it('asks for the key type ssh-keygen -l named, and for none of a bare pin', () => {
    const typed = parseKnownHosts(`256 ${pin} root@web1 (ECDSA)`)
    expect(preferredHostKeyAlgorithms(keysForHost(typed, 'web1', 22))[0]).toBe(
      'ecdsa-sha2-nistp256',
    )
    const bare = parseKnownHosts(pin)
    expect(preferredHostKeyAlgorithms(keysForHost(bare, 'web1', 22))[0]).toBe('ssh-ed25519')
  })
})
