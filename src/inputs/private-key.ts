import ssh2 from 'ssh2'

/**
 * Checks that `ssh-key` parses (with `ssh-key-passphrase` when it is encrypted), so a bad key is
 * reported with the other input problems, before any host is contacted; the same for `proxy-key`
 * and `proxy-key-passphrase` when `input` says so. Returns the problem or undefined. Messages
 * never contain the key or the passphrase.
 */
export function privateKeyProblem(
  privateKey: string,
  passphrase: string,
  input: 'ssh-key' | 'proxy-key' = 'ssh-key',
): string | undefined {
  const parsed = ssh2.utils.parseKey(privateKey, passphrase || undefined)
  if (!(parsed instanceof Error)) {
    const key = Array.isArray(parsed) ? parsed[0] : parsed
    if (key?.isPrivateKey()) return undefined
    return `Input '${input}': this is a public key; give the private key (the file without .pub).`
  }
  const reason = parsed.message
  if (/no passphrase given/i.test(reason)) {
    return `Input '${input}': the key is encrypted; set '${input}-passphrase'.`
  }
  if (/bad passphrase/i.test(reason)) {
    return `Input '${input}-passphrase': it does not decrypt '${input}' (wrong passphrase?).`
  }
  return `Input '${input}': not a private key ssh2 can read (${reason}). Expected an OpenSSH or PEM private key, e.g. the output of 'ssh-keygen -t ed25519'.`
}

/** A PEM key marked encrypted, or an OpenSSH key whose cipher is not `none`. */
export function isEncryptedKey(key: string): boolean {
  if (key.includes('BEGIN ENCRYPTED PRIVATE KEY') || key.includes('Proc-Type: 4,ENCRYPTED')) {
    return true
  }
  const body =
    /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(key)?.[1]
  if (body === undefined) return false
  const bytes = Buffer.from(body.replace(/\s+/g, ''), 'base64')
  const magic = 'openssh-key-v1\0'
  if (bytes.length < magic.length + 4 || bytes.toString('latin1', 0, magic.length) !== magic) {
    return false
  }
  const length = bytes.readUInt32BE(magic.length)
  const start = magic.length + 4
  return bytes.toString('latin1', start, start + length) !== 'none'
}
