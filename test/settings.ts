/** Settings for unit tests: the real input parser on a minimal set of inputs, plus the test's own. */
import { parseInputs } from '../src/inputs/parse.js'
import type { Settings } from '../src/inputs/settings.js'

/** An OpenSSH key container the parser accepts (built at run time: useless as a key). */
export function fakeKey(): string {
  const cipher = Buffer.from('none', 'latin1')
  const length = Buffer.alloc(4)
  length.writeUInt32BE(cipher.length)
  const magic = Buffer.from('openssh-key-v1\0', 'latin1')
  const body = Buffer.concat([magic, length, cipher, Buffer.alloc(20)]).toString('base64')
  const armour = 'OPENSSH PRIVATE KEY'
  return [`-----BEGIN ${armour}-----`, body, `-----END ${armour}-----`].join('\n')
}

/** App `shop` in /srv/shop with `node server.js`, a fake key, and `inputs` (hosts, known-hosts...). */
export function testSettings(inputs: Record<string, string>): Settings {
  const all: Record<string, string> = {
    'ssh-key': fakeKey(),
    'app-name': 'shop',
    'start-command': 'node server.js',
    'deploy-path': '/srv/shop',
    ...inputs,
  }
  return parseInputs((name) => all[name] ?? '')
}
