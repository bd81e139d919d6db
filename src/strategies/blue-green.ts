/**
 * Blue-green: the new version starts on every host's idle slot; only when every host is healthy
 * (and the smoke test passed) does nginx switch, on all hosts together or on none.
 */
import * as core from '@actions/core'
import { bestEffort, onEachHost, type DeployContext } from '../deploy/context.js'
import type { HostDeploy } from '../deploy/host-deploy.js'
import { runSmoke, withPreviewUrls } from '../deploy/preview.js'
import { timed } from '../deploy/timing.js'
import type { RunStatus } from '../report/model.js'

export async function blueGreen(ctx: DeployContext): Promise<RunStatus> {
  const { settings, archive } = ctx
  const unchanged = ctx.hosts.filter((h) => h.isUnchanged(archive))
  unchanged.forEach((h) => (h.report.outcome = 'unchanged'))
  const hosts = ctx.hosts.filter((h) => !unchanged.includes(h))
  if (hosts.length === 0) {
    core.info(`Every host already serves ${ctx.version}: nothing to do.`)
    return 'unchanged'
  }

  await onEachHost(ctx, 'ship', hosts, async (h) => {
    await h.ship(archive)
    await h.writeEnv()
  })
  if (settings.app.migrateCommand) {
    await timed(ctx.phases, 'migrate', () =>
      hosts[0]!.runInRelease(settings.app.migrateCommand, 'migrate'),
    )
    ctx.logs.flush('migrate')
  }
  try {
    await onEachHost(ctx, 'start', hosts, (h) => h.startNewSlot())
    await onEachHost(ctx, 'health', hosts, (h) => h.waitHealthy())
    if (settings.app.smokeCommand) await smokeTest(ctx, hosts)
    await switchTogether(ctx, hosts)
  } catch (error) {
    await bestEffort(ctx.logs, 'stop new slots', hosts, (h) => h.stopNewSlot())
    throw error
  }

  if (settings.slots.keepPrevious === 'stop') {
    await onEachHost(ctx, 'drain', hosts, async (h) => {
      if (!(await h.drainOldSlot())) {
        core.warning(
          `[${h.name}] the old slot still had connections after drain-timeout; stopping it anyway`,
        )
      }
    })
    await onEachHost(ctx, 'stop-old', hosts, (h) => h.stopOldSlot())
  }
  if (settings.app.postDeployCommand) {
    await timed(ctx.phases, 'post-deploy', () =>
      hosts[0]!.runInRelease(settings.app.postDeployCommand, 'post-deploy'),
    )
    ctx.logs.flush('post-deploy')
  }
  await onEachHost(ctx, 'record', hosts, (h) => h.pruneReleases())
  return 'deployed'
}

async function smokeTest(ctx: DeployContext, hosts: HostDeploy[]): Promise<void> {
  const targets = hosts.map((h) => ({ host: h.host, port: h.plan.targetPort }))
  await timed(ctx.phases, 'smoke', () =>
    withPreviewUrls(targets, (urls) => runSmoke(ctx.settings.app.smokeCommand, urls, ctx.version)),
  )
}

/**
 * The switch, all hosts or none: install the new upstream file and test nginx everywhere; then
 * reload and verify everywhere; then record the release everywhere. A failure at any point puts
 * every host's previous upstream back (reloading where it was live) and its previous state.
 */
async function switchTogether(ctx: DeployContext, hosts: HostDeploy[]): Promise<void> {
  let reloaded = false
  try {
    await onEachHost(ctx, 'switch', hosts, (h) => h.installUpstream())
    reloaded = true
    await onEachHost(ctx, 'switch', hosts, (h) => h.reloadAndVerify())
    await onEachHost(ctx, 'switch', hosts, (h) => h.recordSwitch(ctx.archive))
  } catch (error) {
    await bestEffort(ctx.logs, 'revert switch', hosts, async (h) => {
      await h.restoreUpstream(reloaded)
      await h.revertRecord()
    })
    throw error
  }
}
