/** Debian packages a benchmark needs, installed with apt-get only when missing (and only as root). */
import { run } from '../../test/hosts/exec.js'

/** `commands`: command name -> Debian package that provides it. */
export async function ensureCommands(commands: Record<string, string>): Promise<void> {
  const missing: string[] = []
  for (const [command, pkg] of Object.entries(commands)) {
    const found = await run(['sh', '-c', 'command -v "$0"', command], { allowFail: true })
    if (found.exitCode !== 0) missing.push(pkg)
  }
  if (missing.length === 0) return
  if (process.getuid?.() !== 0) throw new Error(`install ${missing.join(' ')} (apt-get) first`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const install = ['apt-get', 'install', '-y', '--no-install-recommends', ...missing]
  await run(install, { env, timeoutMs: 600_000 })
}
