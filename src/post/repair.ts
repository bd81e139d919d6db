/**
 * The post step's repair of one host after a main step that died mid-run: nginx and the slots
 * made to agree with state.json again, from the host's journal entry.
 */
import type { HostDeploy } from '../deploy/host-deploy.js'
import type { JournalEntry } from '../deploy/journal.js'
import { restoreEnv } from '../deploy/ship.js'
import { switchCurrent } from '../remote/commands/files.js'

/**
 * nginx back on the live slot (or the upstream file from before the run, with nothing live),
 * `current` back where state.json says, workers state.json does not name as live stopped, a slot
 * the run had started drained and stopped, the shared/.env it replaced put back. Returns what it
 * did, for the log.
 */
export async function repair(h: HostDeploy, entry: JournalEntry): Promise<string[]> {
  const live = h.state.liveSlot
  const done: string[] = []
  if (entry.siteTouched) {
    await h.nginx.restoreSiteAnyway()
    done.push('restored the site file from before the run')
  }
  if (entry.upstreamTouched) {
    if (live === null) {
      await h.nginx.restoreAnyway(true)
      done.push('restored the upstream file from before the run')
    } else {
      // Install, test, reload and verify in one exec (the switch script's stage 'all').
      await h.nginx.switch('all', live)
      done.push(`nginx sends traffic to the live ${live} slot again`)
    }
  }
  if (entry.currentMovedFrom !== undefined) {
    const version = entry.currentMovedFrom
    await h.host.exec(switchCurrent(h.session.layout, version), { step: 'reload: switch back' })
    done.push(`current points at ${version} again`)
    // Only a slot that runs from `current` reloaded into the new release (strategy reload).
    const fromCurrent = live !== null && h.state.slots[live]?.workdir === h.session.layout.current
    if (live !== null && fromCurrent && (await h.slots.running(live, 'reload: check slot'))) {
      await h.slots.reload(live, version)
      done.push(`reloaded the ${live} slot on it`)
    }
  }
  for (const workers of entry.workers ?? []) {
    // The workers state.json names run on; any other generation the run touched stops.
    const running = h.state.workers
    if (running?.generation === workers.generation && running.version === workers.version) continue
    await h.host.exec(h.workers.stopCommand(workers), { step: 'workers' })
    done.push(`stopped the ${workers.version} workers (${workers.names.join(', ')})`)
  }
  if (entry.startedSlot !== undefined && entry.startedSlot !== live) {
    // nginx no longer sends it anything (put back above, or by the main step, which may have
    // died while the slot drained): what nginx's old workers still finish there finishes first.
    await h.slots.drain(entry.startedSlot, h.nginx.sinceReload())
    await h.slots.stop(entry.startedSlot, h.state.slots[entry.startedSlot]?.version ?? h.version)
    done.push(`stopped the ${entry.startedSlot} slot the run had started`)
  }
  if (entry.envToken !== undefined && (await restoreEnv(h.session, entry.envToken))) {
    done.push('put back shared/.env as it was before the run')
  }
  return done
}
