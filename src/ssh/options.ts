import type { Settings } from '../inputs/settings.js'
import type { SshOptions } from './connection.js'
import { parseKnownHosts } from './known-hosts.js'

const KEEPALIVE_INTERVAL_MS = 15_000

/** Options for the app hosts and the load balancer. */
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

/** Options for the jump host: its own key and known_hosts where given, else the hosts'. */
export function jumpSshOptionsFrom(settings: Settings): SshOptions {
  const { ssh } = settings
  const ownKey = ssh.proxyKey !== ''
  return {
    ...sshOptionsFrom(settings),
    privateKey: ownKey ? ssh.proxyKey : ssh.privateKey,
    passphrase: ownKey ? ssh.proxyPassphrase : ssh.passphrase,
    keyInput: ownKey ? 'proxy-key' : 'ssh-key',
    knownHosts: ssh.insecureIgnoreHostKey
      ? null
      : parseKnownHosts(ssh.proxyKnownHosts || ssh.knownHosts),
  }
}
