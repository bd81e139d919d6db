/**
 * Runs bench/lib/seed-deploy.sh (the bash baseline) against a lab host; returns its wall time. SSH
 * goes where the host says (`host.ssh`: its sshd, or the latency lab's proxy in front of it).
 */
import { fileURLToPath } from 'node:url'
import type { Lab, LabHost } from '../../test/hosts/index.js'
import { run } from '../../test/hosts/exec.js'

const SCRIPT = fileURLToPath(new URL('./seed-deploy.sh', import.meta.url))

/** The app port the seed script uses, behind the host's nginx (see sites.ts addPortSite). */
export const SEED_PORT = 3000
/** The script's fixed sleep after starting the app, in seconds. */
export const SEED_SETTLE_SECONDS = 2

export async function seedDeploy(
  lab: Lab,
  host: LabHost,
  release: string,
  version: string,
): Promise<number> {
  const env = {
    ...process.env,
    SSH_KEY: lab.privateKeyPath,
    KNOWN_HOSTS: lab.knownHostsPath,
    APP_PORT: String(SEED_PORT),
    SETTLE_SECONDS: String(SEED_SETTLE_SECONDS),
    SSH_PORT: String(host.ssh.port),
  }
  const started = performance.now()
  await run(['bash', SCRIPT, host.ssh.host, release, version], { env, timeoutMs: 60_000 })
  return performance.now() - started
}
