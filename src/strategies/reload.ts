/**
 * Reload (hot patching): for app servers that replace their workers gracefully themselves (puma
 * phased restart, gunicorn HUP, unicorn USR2, an Erlang release upgrade). One slot and one port:
 * ship, move `current`, run `reload-command`, health-check; on failure `current` moves back and
 * the server reloads again. Hosts reload in parallel; a failed host does not undo the others.
 */
import { onEachHost, type DeployContext } from '../deploy/context.js'
import type { HostDeploy } from '../deploy/host-deploy.js'
import { finish, hostsToDeploy, shipAndMigrate } from '../deploy/steps.js'
import { slotPort } from '../deploy/plan.js'
import { switchCurrent } from '../remote/commands/files.js'
import type { RunStatus } from '../report/model.js'

export async function reload(ctx: DeployContext): Promise<RunStatus> {
  const hosts = hostsToDeploy(ctx)
  if (hosts.length === 0) return 'unchanged'
  await shipAndMigrate(ctx, hosts)
  await onEachHost(
    ctx,
    'switch',
    hosts,
    async (h) => {
      await deployInPlace(h)
      await h.recordSwitch()
      return `${h.version} is live on ${h.plan.targetSlot}, reloaded in place`
    },
    'reload',
  )
  return finish(ctx, hosts, 'deployed', false)
}

/**
 * One host: one slot, the live one (blue on a fresh host), whose app server reloads its code
 * itself. `current` moves to the new release; a running server gets `reload-command`, a stopped
 * one is started from `current`; then the health check (with version-path, the new version must
 * answer). On failure `current` moves back and the server reloads again.
 */
export async function deployInPlace(h: HostDeploy): Promise<void> {
  const { host, layout, journal, settings } = h.session
  const slot = h.plan.liveSlot ?? 'blue'
  h.target.plan = { ...h.plan, targetSlot: slot, targetPort: slotPort(settings, slot) }
  const previous = h.plan.liveVersion
  const running = await h.slots.running(slot, 'reload: check slot')
  // Journaled before the move: moving `current` back is harmless if it never moved.
  if (previous !== null) journal.mark({ kind: 'current moved', from: previous })
  await host.exec(switchCurrent(layout, h.version), { step: 'reload: switch current' })
  try {
    if (running) {
      h.target.pid = h.state.slots[slot]?.pid ?? null
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
      if (running) await h.slots.reload(slot, previous)
      journal.clear('current moved')
    }
    if (!running) await h.stopNewSlot()
    throw error
  }
}
