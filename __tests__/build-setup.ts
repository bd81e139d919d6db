import { execFileSync } from 'node:child_process'
import { ensurePackages } from '../test/hosts/index.js'

/**
 * Once per run of the e2e project: install sshd and nginx when missing (as root), and build
 * dist/index.js, so the end-to-end tests always run the bundle of the code under test. The unit
 * project needs neither.
 */
export default async function setup(): Promise<void> {
  await ensurePackages()
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: ['ignore', 'ignore', 'inherit'] })
}
