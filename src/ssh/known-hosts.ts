/**
 * known_hosts parsing and host-key verification (pure). Supports plain and hashed (`|1|salt|hash`)
 * host patterns, `[host]:port`, `*`/`?` wildcards, `!` negation and the `@revoked` marker, like
 * OpenSSH's sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT".
 *
 * Besides key lines it takes SHA256 fingerprint pins, as appleboy/ssh-action's `fingerprint` holds
 * them: `SHA256:<base64>` alone (any host), `<patterns> SHA256:<base64>` (those hosts), or a line of
 * `ssh-keygen -lf` output (`256 SHA256:<base64> comment (ED25519)`, any host).
 */
import { createHash, createHmac } from 'node:crypto'
import type { ServerHostKeyAlgorithm } from 'ssh2'

export interface KnownHostEntry {
  patterns: string[]
  /** The key's type; '' for a fingerprint pin that does not name one. */
  keyType: string
  /** The public key; '' for a fingerprint pin. */
  keyBase64: string
  marker: '' | '@revoked' | '@cert-authority'
  /** `SHA256:<unpadded base64>` when the line pins a fingerprint instead of giving the key. */
  fingerprint?: string
}

/** A SHA256 host-key fingerprint as `ssh-keygen -l` prints it (trailing `=` tolerated). */
export const SHA256_FINGERPRINT = /^SHA256:([A-Za-z0-9+/]{43})=?$/i
/** What looks like a fingerprint, well-formed or not (`SHA256:...`, `MD5:...`, hex pairs). */
export const FINGERPRINT_LIKE = /^(?:SHA256:|MD5:|[0-9a-f]{2}(?::[0-9a-f]{2}){15}$)/i
/** The type names `ssh-keygen -l` prints in parentheses, as key types. */
const KEYGEN_TYPES: Record<string, string> = {
  ED25519: 'ssh-ed25519',
  RSA: 'ssh-rsa',
  'ECDSA-256': 'ecdsa-sha2-nistp256',
  'ECDSA-384': 'ecdsa-sha2-nistp384',
  'ECDSA-521': 'ecdsa-sha2-nistp521',
}

/** The fingerprint in the form `fingerprint()` returns, or undefined when it is not SHA256. */
export function normalizeFingerprint(text: string): string | undefined {
  const match = SHA256_FINGERPRINT.exec(text)
  return match ? `SHA256:${match[1]}` : undefined
}

/**
 * A fingerprint pin line (after any marker) as an entry, or undefined when the line is not one.
 * `fields` are the line's whitespace-separated fields.
 */
export function parseFingerprintPin(
  fields: readonly string[],
  marker: KnownHostEntry['marker'],
): KnownHostEntry | undefined {
  const [first = '', second = ''] = fields
  const bare = normalizeFingerprint(first)
  if (bare) return { patterns: ['*'], keyType: '', keyBase64: '', marker, fingerprint: bare }
  const pinned = normalizeFingerprint(second)
  if (!pinned) return undefined
  // `ssh-keygen -l`: `<bits> SHA256:... <comment> (<TYPE>)`; the first field is no host pattern.
  const keygenType = /^\d+$/.test(first) ? /^\(([A-Z0-9-]+)\)$/.exec(fields.at(-1) ?? '') : null
  if (keygenType) {
    const bits = Number(first)
    const name = keygenType[1] === 'ECDSA' ? `ECDSA-${bits}` : (keygenType[1] ?? '')
    return {
      patterns: ['*'],
      keyType: KEYGEN_TYPES[name] ?? '',
      keyBase64: '',
      marker,
      fingerprint: pinned,
    }
  }
  return { patterns: first.split(','), keyType: '', keyBase64: '', marker, fingerprint: pinned }
}

export type HostKeyVerdict =
  { ok: true } | { ok: false; reason: 'unknown' | 'changed' | 'revoked'; message: string }

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = []
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim()
    if (line === '' || line.startsWith('#')) continue
    const fields = line.split(/\s+/)
    const marker = fields[0] === '@revoked' || fields[0] === '@cert-authority' ? fields.shift() : ''
    const pin = parseFingerprintPin(fields, marker as KnownHostEntry['marker'])
    if (pin) {
      entries.push(pin)
      continue
    }
    const [patterns, keyType, keyBase64] = fields
    if (!patterns || !keyType || !keyBase64) continue
    entries.push({
      patterns: patterns.split(','),
      keyType,
      keyBase64,
      marker: marker as KnownHostEntry['marker'],
    })
  }
  return entries
}

/** The name known_hosts uses for a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.')
  return new RegExp(`^${body}$`, 'i')
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [salt, hash] = pattern.slice(3).split('|')
    if (!salt || !hash) return false
    const digest = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64')
    return digest === hash
  }
  return globToRegExp(pattern).test(name)
}

function entryMatches(entry: KnownHostEntry, name: string): boolean {
  let matched = false
  for (const pattern of entry.patterns) {
    if (pattern.startsWith('!')) {
      if (patternMatches(pattern.slice(1), name)) return false
    } else if (patternMatches(pattern, name)) {
      matched = true
    }
  }
  return matched
}

/** The entries (not revoked, not CA) that apply to a host. */
export function keysForHost(entries: KnownHostEntry[], host: string, port: number) {
  const name = knownHostsName(host, port)
  return entries.filter((e) => e.marker === '' && entryMatches(e, name))
}

/** The key type named inside an SSH public key blob (its first length-prefixed string). */
export function keyTypeOfBlob(blob: Buffer): string {
  if (blob.length < 4) return 'unknown'
  const length = blob.readUInt32BE(0)
  return blob.subarray(4, 4 + length).toString('latin1')
}

/** OpenSSH's fingerprint format: SHA256:<unpadded base64>. */
export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')
}

/** Host-key algorithm names ssh2 negotiates, for each key type found in known_hosts. */
const ALGORITHMS_FOR_KEY_TYPE: Record<string, ServerHostKeyAlgorithm[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
}
const ALL_ALGORITHMS = Object.values(ALGORITHMS_FOR_KEY_TYPE).flat()

/**
 * Host-key algorithms in preference order: those with a key in known_hosts first, as OpenSSH does,
 * so a host that offers several key types is asked for the one we can verify.
 */
export function preferredHostKeyAlgorithms(known: KnownHostEntry[]): ServerHostKeyAlgorithm[] {
  const first = known.flatMap((e) => ALGORITHMS_FOR_KEY_TYPE[e.keyType] ?? [])
  return [...new Set([...first, ...ALL_ALGORITHMS])]
}

/** Checks the key a host presented against known_hosts; the message is ready for the log. */
export function verifyHostKey(
  entries: KnownHostEntry[],
  host: string,
  port: number,
  presented: Buffer,
): HostKeyVerdict {
  const name = knownHostsName(host, port)
  const presentedBase64 = presented.toString('base64')
  const type = keyTypeOfBlob(presented)
  const print = fingerprint(presented)
  const pasteLine = `${name} ${type} ${presentedBase64}`
  const isPresented = (e: KnownHostEntry) =>
    e.fingerprint === undefined ? e.keyBase64 === presentedBase64 : e.fingerprint === print
  const revoked = entries.some(
    (e) => e.marker === '@revoked' && isPresented(e) && entryMatches(e, name),
  )
  if (revoked) {
    return {
      ok: false,
      reason: 'revoked',
      message: `Host key ${type} ${print} of ${name} is marked @revoked in known-hosts; refusing to connect.`,
    }
  }
  const known = keysForHost(entries, host, port)
  if (known.some(isPresented)) return { ok: true }
  if (known.length === 0) {
    return {
      ok: false,
      reason: 'unknown',
      message:
        `Host ${name} is not in known-hosts; it presented ${type} ${print}. ` +
        `Check the fingerprint out of band (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the host), ` +
        `then add this line to known-hosts:\n${pasteLine}`,
    }
  }
  const expected = known.map((e) =>
    e.fingerprint === undefined
      ? `${e.keyType} ${fingerprint(Buffer.from(e.keyBase64, 'base64'))}`
      : `the pin ${e.fingerprint}`,
  )
  // A host has several keys and offers one; a pin of another of its keys does not match it.
  const pinHint = known.some((e) => e.fingerprint !== undefined)
    ? `A fingerprint pin matches one key of the host: if the pinned key is another of its keys, ` +
      `pin its ${type} key instead (ssh-keygen -lf /etc/ssh/ssh_host_${shortKeyType(type)}_key.pub ` +
      `on the host). `
    : ''
  return {
    ok: false,
    reason: 'changed',
    message:
      `HOST KEY MISMATCH for ${name}: known-hosts has ${expected.join(', ')} but the host presented ` +
      `${type} ${print}. Someone may be intercepting the connection, or the host was reinstalled. ` +
      pinHint +
      `If you verified the new key, replace its known-hosts line with:\n${pasteLine}`,
  }
}

/** The part of a key type in sshd's host key file names: ed25519, ecdsa, rsa. */
function shortKeyType(type: string): string {
  if (type.startsWith('ecdsa-')) return 'ecdsa'
  return type.replace(/^ssh-/, '')
}
