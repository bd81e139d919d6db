/**
 * The post step. The deploy lock needs no cleanup (it dies with the main step's SSH connection);
 * what can be left behind when the main step is cancelled or killed mid-run is a new slot it had
 * started and an upstream file it had changed. The journal (saved as the run went) names those
 * hosts; each is put back in line with its state.json, under the lock.
 */
import * as core from '@actions/core'
import { HostDeploy } from '../deploy/host-deploy.js'
import { HostSession } from '../deploy/host-session.js'
import { Journal } from '../deploy/journal.js'
import { lockHolder } from '../deploy/lock.js'
import { errorMessage } from '../common/errors.js'
import type { Settings } from '../inputs/settings.js'
import { forEachParallel } from '../common/parallel.js'
import { RemoteHost } from '../ssh/connection.js'
import { connectJumpHost } from '../ssh/jump-host.js'
import { sshOptionsFrom } from '../ssh/options.js'
import { repair } from './repair.js'

export async function cleanup(
  settings: Settings,
  journalText: string,
  runUrl: string,
): Promise<void> {
  const entries = Journal.parse(journalText)
  const labels = Object.keys(entries)
  if (labels.length === 0) {
    core.info('post: the main step left nothing half-done')
    return
  }
  core.warning(`post: the main step stopped mid-run; repairing ${labels.join(', ')}`)
  const options = sshOptionsFrom(settings)
  const via = await connectJumpHost(settings)
  const holder = lockHolder(runUrl, `${process.env.GITHUB_ACTOR ?? 'unknown'} (post step)`)
  try {
    await forEachParallel(labels, settings.ssh.maxParallel, async (label) => {
      const web = settings.hosts.find((h) => h.label === label)
      const address = web ?? settings.workers.hosts.find((h) => h.label === label)
      if (!address) return
      const host = await RemoteHost.connect(address, options, { via })
      const role = web ? 'web' : 'worker'
      const session = new HostSession(host, settings, new Journal(), '', role)
      try {
        const deploy = await HostDeploy.lockAndLoad(session, holder)
        const done = await repair(deploy, entries[label]!)
        core.info(`post: [${label}] ${done.join('; ') || 'nothing to repair'}`)
      } finally {
        await session.releaseLock().catch(() => {})
        host.dispose()
      }
    })
  } catch (error) {
    throw new Error(`post: could not repair every host: ${errorMessage(error)}`, { cause: error })
  } finally {
    via?.dispose()
  }
}
