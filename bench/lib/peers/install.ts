/**
 * The peer tools, installed at bench time and never into package.json: Capistrano and rsync (which
 * shipit-deploy copies with) from Debian when missing (as root), shipit-cli, shipit-deploy and pm2
 * from npm into node_modules/.cache/bench-peers.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { run } from '../../../test/hosts/exec.js'
import { ensureCommands } from '../apt.js'

export const PEER_CACHE = fileURLToPath(
  new URL('../../../node_modules/.cache/bench-peers/', import.meta.url),
)
const NPM_PACKAGES = ['shipit-cli@5', 'shipit-deploy@5', 'pm2@7']
const DEBIAN_PACKAGES: Record<string, string> = { cap: 'capistrano', rsync: 'rsync' }

export interface PeerTools {
  cap: string
  shipit: string
  pm2: string
  versions: Record<string, string>
}

export async function ensurePeerTools(): Promise<PeerTools> {
  await ensureCommands(DEBIAN_PACKAGES)
  const bin = (name: string) => `${PEER_CACHE}node_modules/.bin/${name}`
  if (!existsSync(bin('shipit')) || !existsSync(bin('pm2'))) {
    mkdirSync(PEER_CACHE, { recursive: true })
    writeFileSync(`${PEER_CACHE}package.json`, '{ "private": true }\n')
    const npm = ['npm', 'install', '--prefix', PEER_CACHE, '--no-audit', '--no-fund']
    await run([...npm, '--no-package-lock', ...NPM_PACKAGES], { timeoutMs: 600_000 })
  }
  const version = async (argv: string[]) => (await run(argv)).stdout.trim().split('\n').pop()!
  return {
    cap: 'cap',
    shipit: bin('shipit'),
    pm2: bin('pm2'),
    versions: {
      capistrano: (await version(['cap', '--version'])).replace(
        /^Capistrano Version: ([^ ]+).*/,
        '$1',
      ),
      'shipit-deploy': await version([
        'node',
        '-p',
        `require('${PEER_CACHE}node_modules/shipit-deploy/package.json').version`,
      ]),
      pm2: await version([
        'node',
        '-p',
        `require('${PEER_CACHE}node_modules/pm2/package.json').version`,
      ]),
    },
  }
}
