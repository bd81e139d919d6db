import type { Settings } from '../inputs/settings.js'
import { RemoteHost } from './connection.js'
import { jumpSshOptionsFrom } from './options.js'

/**
 * `proxy-jump`: opens the connection to the jump host (with its own key and known_hosts where
 * given) that every host of the run is then reached through (`RemoteHost.connect(…, { via })`);
 * undefined when the hosts are reached directly. The caller disposes of it after the hosts.
 */
export async function connectJumpHost(settings: Settings): Promise<RemoteHost | undefined> {
  const address = settings.ssh.proxyJump
  return address ? RemoteHost.connect(address, jumpSshOptionsFrom(settings)) : undefined
}
