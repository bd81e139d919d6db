/**
 * Reload (hot patching): for app servers that replace their workers gracefully themselves (puma
 * phased restart, gunicorn HUP, unicorn USR2, an Erlang release upgrade). One slot and one port:
 * ship, move `current`, run `reload-command`, health-check; on failure `current` moves back and
 * the server reloads again. Hosts reload in parallel; a failed host does not undo the others.
 */
import { onEachHost, type DeployContext } from '../deploy/context.js'
import { finish, hostsToDeploy, shipAndMigrate } from '../deploy/steps.js'
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
      await h.deployInPlace()
      await h.recordSwitch()
      return `${h.version} is live on ${h.plan.targetSlot}, reloaded in place`
    },
    'reload',
  )
  return finish(ctx, hosts, 'deployed', false)
}
