/** OpenSSH client options for a lab: its key, its known_hosts, strict host keys, no user config. */
import type { Lab } from '../../test/hosts/index.js'

export function sshOptions(lab: Lab): string[] {
  return [
    ...['-F', '/dev/null', '-i', lab.privateKeyPath],
    ...['-o', `UserKnownHostsFile=${lab.knownHostsPath}`],
    ...['-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes'],
  ]
}
