/**
 * The peer tools, installed at bench time and never into package.json: Capistrano and rsync (which
 * shipit-deploy copies with) from Debian when missing (as root), shipit-cli, shipit-deploy and pm2
 * from npm into node_modules/.cache/bench-peers. A tool that cannot be installed is reported as
 * unavailable (with the reason) and the others still run.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { run } from '../../../test/hosts/exec.js'
import { ensureCommands } from '../apt.js'

export const PEER_CACHE = fileURLToPath(
  new URL('../../../node_modules/.cache/bench-peers/', import.meta.url),
)
const NPM_PACKAGES = ['shipit-cli@5', 'shipit-deploy@5', 'pm2@7']

export interface PeerTools {
  shipit: string
  pm2: string
  /** Installed version per tool: capistrano, shipit-deploy, pm2. */
  versions: Record<string, string>
  /** Why a tool cannot run here, per tool (capistrano, shipit, pm2). */
  unavailable: Record<string, string>
}

const reason = (error: unknown) => (error as Error).message.split('\n')[0]!

export async function ensurePeerTools(): Promise<PeerTools> {
  const unavailable: Record<string, string> = {}
  const versions: Record<string, string> = {}
  const bin = (name: string) => `${PEER_CACHE}node_modules/.bin/${name}`
  const npmVersion = (pkg: string) =>
    (
      JSON.parse(readFileSync(`${PEER_CACHE}node_modules/${pkg}/package.json`, 'utf8')) as {
        version: string
      }
    ).version
  try {
    await ensureCommands({ cap: 'capistrano' })
    const { stdout } = await run(['cap', '--version'])
    versions.capistrano = /Capistrano Version: (\S+)/.exec(stdout)?.[1] ?? stdout.trim()
  } catch (error) {
    unavailable.capistrano = reason(error)
  }
  try {
    if (!existsSync(bin('shipit')) || !existsSync(bin('pm2'))) {
      mkdirSync(PEER_CACHE, { recursive: true })
      writeFileSync(`${PEER_CACHE}package.json`, '{ "private": true }\n')
      const npm = ['npm', 'install', '--prefix', PEER_CACHE, '--no-audit', '--no-fund']
      await run([...npm, '--no-package-lock', ...NPM_PACKAGES], { timeoutMs: 600_000 })
    }
    versions['shipit-deploy'] = npmVersion('shipit-deploy')
    versions.pm2 = npmVersion('pm2')
  } catch (error) {
    unavailable.shipit = unavailable.pm2 = `npm install failed: ${reason(error)}`
  }
  try {
    await ensureCommands({ rsync: 'rsync' })
  } catch (error) {
    unavailable.shipit ??= reason(error)
  }
  return { shipit: bin('shipit'), pm2: bin('pm2'), versions, unavailable }
}
