/**
 * Reload (hot patching): for app servers that replace their workers gracefully themselves (puma
 * phased restart, gunicorn HUP, unicorn USR2, an Erlang release upgrade). One slot and one port:
 * ship, move `current`, run `reload-command`, health-check; on failure `current` moves back and
 * the server reloads again. A server loads the code of the directory it started in, so a live
 * slot that does not run from `current` (a blue-green deploy started it in its release dir)
 * cannot reload into the new release: that host starts the new release on its other slot from
 * `current` and switches instead, as blue-green does. Hosts go in parallel; a failed host does
 * not undo the others.
 */
import { onEachHost, type DeployContext } from '../deploy/context.js'
import type { HostDeploy } from '../deploy/host-deploy.js'
import { finish, hostsToDeploy, shipAndMigrate, workersOnly } from '../deploy/steps.js'
import { planHost, slotPort } from '../deploy/plan.js'
import { switchCurrent } from '../remote/commands/files.js'
import type { Slot } from '../remote/state.js'
import type { RunStatus } from '../report/model.js'
import { info, warning } from '../report/log.js'

export async function reload(ctx: DeployContext): Promise<RunStatus> {
  const hosts = hostsToDeploy(ctx)
  if (hosts.length === 0) return workersOnly(ctx)
  await shipAndMigrate(ctx, hosts)
  const switched: HostDeploy[] = []
  await onEachHost(
    ctx,
    'switch',
    hosts,
    async (h) => {
      if (await deployInPlace(h)) {
        await h.recordSwitch()
        return `${h.version} is live on ${h.plan.targetSlot}, reloaded in place`
      }
      switched.push(h)
      return `${h.version} is live on ${h.plan.targetSlot} (port ${h.plan.targetPort}), started from current`
    },
    'reload',
  )
  // The hosts that switched slots retire the old one, as blue-green does.
  return finish(ctx, hosts, 'deployed', switched)
}

/**
 * One host: one slot, the live one (blue on a fresh host), whose app server reloads its code
 * itself. `current` moves to the new release; a running server gets `reload-command`, a stopped
 * one is started from `current`; then the health check (with version-path, the new version must
 * answer). On failure `current` moves back and the server reloads again. Returns false when the
 * live slot did not run from `current`: the new release then started on the other slot from
 * `current` and the host switched to it (switchFromCurrent); the caller retires the old slot.
 */
export async function deployInPlace(h: HostDeploy): Promise<boolean> {
  const { host, layout, journal, settings } = h.session
  const slot = h.plan.liveSlot ?? 'blue'
  const running = await h.slots.running(slot, 'reload: check slot')
  const from = h.state.slots[slot]?.workdir ?? layout.release(h.state.slots[slot]?.version ?? '')
  if (running && h.plan.liveSlot !== null && from !== layout.current) {
    info(
      `[${h.name}] the ${slot} slot runs from ${from}, not from ${layout.current}: a reload would load its code again, so ${h.version} starts on the other slot from ${layout.current} and the host switches to it instead`,
    )
    await switchFromCurrent(h)
    return false
  }
  h.target.plan = { ...h.plan, targetSlot: slot, targetPort: slotPort(settings, slot) }
  h.target.workdir = layout.current
  const previous = h.plan.liveVersion
  // Journaled before the move: moving `current` back is harmless if it never moved.
  if (previous !== null) journal.mark({ kind: 'current moved', from: previous })
  await host.exec(switchCurrent(layout, h.version), { step: 'reload: switch current' })
  try {
    if (running) {
      h.target.pid = h.state.slots[slot]?.pid ?? null
      h.assets.servedInPlace()
      await h.slots.reload()
    } else {
      await h.startNewSlot(layout.current)
    }
    await h.waitHealthy()
    if (h.plan.liveSlot === null || h.nginx.sitePending) {
      await h.installUpstream(slot)
      await h.reloadAndVerify(slot)
    }
  } catch (error) {
    if (previous !== null) {
      await host.exec(switchCurrent(layout, previous), { step: 'reload: switch back' })
      // What went wrong first is the run's error; a failed reload back leaves the journal entry,
      // so the post step tries again.
      if (running && !(await reloadedBack(h, slot, previous))) throw error
      journal.clear('current moved')
    }
    if (!running) await h.stopNewSlot()
    throw error
  }
  return true
}

/**
 * The reload onto the previous release after a failed one; false, with a warning, when it fails
 * too. A server can die in a reload (gunicorn's master exits when its new workers cannot load the
 * app): its process manager starts it again from `current`, which names the previous release.
 */
async function reloadedBack(h: HostDeploy, slot: Slot, previous: string): Promise<boolean> {
  try {
    await h.slots.reload(slot, previous)
    return true
  } catch (error) {
    warning(
      `[${h.name}] the reload back onto ${previous} failed too (${(error as Error).message}); ${h.session.layout.current} points at ${previous} again`,
    )
    return false
  }
}

/**
 * The reload of a host whose live slot runs from its release dir: `current` moves to the new
 * release first (journaled), the new release starts on the idle slot from `current` (so the
 * reloads of later runs load new code), passes its health check, and the host switches to it
 * with its record. On failure `current` moves back and the new slot stops; the live slot never
 * stopped serving.
 */
async function switchFromCurrent(h: HostDeploy): Promise<void> {
  const { host, layout, journal, settings } = h.session
  const previous = h.plan.liveVersion
  h.target.plan = planHost(settings, h.name, h.state, h.version)
  if (previous !== null) journal.mark({ kind: 'current moved', from: previous })
  await host.exec(switchCurrent(layout, h.version), { step: 'reload: switch current' })
  try {
    await h.startNewSlot(layout.current)
    await h.waitHealthy()
    await h.switchToNewSlot('all')
  } catch (error) {
    if (previous !== null) {
      await host.exec(switchCurrent(layout, previous), { step: 'reload: switch back' })
      journal.clear('current moved')
    }
    await h.stopNewSlot()
    throw error
  }
}
