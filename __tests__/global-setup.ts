import { execFileSync } from 'node:child_process'
import { ensurePackages } from '../test/hosts/index.js'

/**
 * Once per test run: install sshd and nginx when missing (as root), and build dist/index.js, so
 * the end-to-end tests always run the bundle of the code under test.
 */
export default async function setup(): Promise<void> {
  await ensurePackages()
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: ['ignore', 'ignore', 'inherit'] })
}
