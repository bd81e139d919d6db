import ssh2 from 'ssh2'

/**
 * Checks that `ssh-key` parses (with `ssh-key-passphrase` when it is encrypted), so a bad key is
 * reported with the other input problems, before any host is contacted. Returns the problem or
 * undefined. Messages never contain the key or the passphrase.
 */
export function privateKeyProblem(privateKey: string, passphrase: string): string | undefined {
  const parsed = ssh2.utils.parseKey(privateKey, passphrase || undefined)
  if (!(parsed instanceof Error)) {
    const key = Array.isArray(parsed) ? parsed[0] : parsed
    if (key?.isPrivateKey()) return undefined
    return "Input 'ssh-key': this is a public key; give the private key (the file without .pub)."
  }
  const reason = parsed.message
  if (/no passphrase given/i.test(reason)) {
    return "Input 'ssh-key': the key is encrypted; set 'ssh-key-passphrase'."
  }
  if (/bad passphrase/i.test(reason)) {
    return "Input 'ssh-key-passphrase': it does not decrypt 'ssh-key' (wrong passphrase?)."
  }
  return `Input 'ssh-key': not a private key ssh2 can read (${reason}). Expected an OpenSSH or PEM private key, e.g. the output of 'ssh-keygen -t ed25519'.`
}
