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
