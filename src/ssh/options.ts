import type { Settings } from '../inputs.js'
import type { SshOptions } from './connection.js'
import { parseKnownHosts } from './known-hosts.js'

const KEEPALIVE_INTERVAL_MS = 15_000

export function sshOptionsFrom(settings: Settings): SshOptions {
  const { ssh } = settings
  return {
    privateKey: ssh.privateKey,
    passphrase: ssh.passphrase,
    knownHosts: ssh.insecureIgnoreHostKey ? null : parseKnownHosts(ssh.knownHosts),
    connectTimeoutMs: ssh.connectTimeoutMs,
    keepaliveIntervalMs: KEEPALIVE_INTERVAL_MS,
  }
}
