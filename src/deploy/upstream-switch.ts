/**
 * A host's nginx switch: the app's upstream include, and the managed site (`nginx-site`), written
 * and tested (install), made live (reload and verify) and put back (restore), each through the
 * one UpstreamFile of src/nginx/. Every change is marked in the host's journal before it is made.
 */
import { canaryLogSpec } from '../canary/evidence.js'
import type { Settings } from '../inputs/settings.js'
import { renderSite, renderUpstream, type UpstreamServer } from '../nginx/render.js'
import { appUpstreamFile, managedSiteFile, type UpstreamFile } from '../nginx/upstream-file.js'
import { slotPort } from './plan.js'
import type { Slot } from '../remote/state.js'
import type { HostSession, Target } from './host-session.js'

/** The app's upstream include and the managed site of a host. */
export interface NginxFiles {
  upstream: UpstreamFile
  site: UpstreamFile
}

export function nginxFiles(s: HostSession): NginxFiles {
  return {
    upstream: appUpstreamFile(s.host, s.settings, s.layout),
    site: managedSiteFile(s.host, s.settings, s.layout),
  }
}

/** The site as `nginx-site` renders it, or undefined without that input. */
export function renderedSite(settings: Settings): string | undefined {
  const { serverNames, listen } = settings.site
  if (serverNames.length === 0) return undefined
  return renderSite({ name: settings.app.name, serverNames, listen })
}

export class UpstreamSwitch {
  /** When this run last reloaded nginx (ms since the epoch; 0: not yet). */
  private reloadedAt = 0
  /**
   * Whether nginx sends (part of) the traffic to the new slot ('serving'), or did and was moved
   * off it again ('taken off': the slot drains before it stops).
   */
  private newSlotTraffic: 'none' | 'serving' | 'taken off' = 'none'

  constructor(
    private readonly s: HostSession,
    private readonly target: Target,
    private readonly files: NginxFiles,
    /**
     * The managed site (`nginx-site`) differs from the one the host has: the next upstream
     * install writes it too (once; whether it was written is the journal's `site`).
     */
    private siteToInstall: boolean,
  ) {}

  /** Whether the next install writes the managed site too. */
  get sitePending(): boolean {
    return this.siteToInstall
  }

  /** nginx sent traffic to the new slot and was moved off it: the slot drains before it stops. */
  get newSlotTakenOff(): boolean {
    return this.newSlotTraffic === 'taken off'
  }

  /** How long ago this run last reloaded nginx (0: it did not), for a drain's quiet window. */
  sinceReload(): number {
    return this.reloadedAt === 0 ? 0 : Date.now() - this.reloadedAt
  }

  /**
   * Step 1 of a switch to `slot` (the new one, or the previous one when switching back): the
   * upstream file in place and the nginx config tested, not yet live.
   */
  async install(slot: Slot = this.target.plan.targetSlot, canaryWeight?: number): Promise<void> {
    const { settings } = this.s
    const plan = this.target.plan
    this.s.journal.mark({ kind: 'upstream' })
    const content = renderUpstream({
      name: settings.app.name,
      servers: this.servers(slot, canaryWeight),
      liveSlot: canaryWeight === undefined ? slot : (plan.liveSlot ?? slot),
      verifyPort: settings.nginx.verifyPort,
      canaryLogFormat: true,
      // Not when going back to the live slot: that must work even if nginx refused the log.
      canaryLog: slot === plan.targetSlot ? canaryLogSpec(settings) : undefined,
      stickyCookie: settings.canary.stickyCookie || undefined,
    })
    await this.files.upstream.install(content)
    if (this.siteToInstall) await this.installSite()
  }

  /**
   * The managed site, after the upstream it proxies to: written as the upstream file is (the one
   * before kept as a backup, through `sudo -n tee` where only sudo may write it), then nginx -t.
   */
  private async installSite(): Promise<void> {
    this.siteToInstall = false
    this.s.journal.mark({ kind: 'site' })
    await this.files.site.install(renderedSite(this.s.settings) ?? '')
  }

  /** Puts back the site file from before the run (none: removes it), if this run wrote it. */
  private async restoreSite(): Promise<boolean> {
    if (!this.s.journal.has('site')) return false
    await this.restoreSiteAnyway()
    return true
  }

  /**
   * Restore anyway: puts back the site file from its backup whether or not this run wrote it (the
   * post step, for the run that did), and does not write it again.
   */
  async restoreSiteAnyway(): Promise<void> {
    await this.files.site.restore()
    this.siteToInstall = false
    this.s.journal.clear('site')
  }

  /**
   * `slot` alone; or, for a canary step, the live slot and the new one sharing the traffic by
   * weight (the new one gets `canaryWeight` percent).
   */
  private servers(slot: Slot, canaryWeight?: number): UpstreamServer[] {
    const { settings } = this.s
    const live = this.target.plan.liveSlot
    if (canaryWeight === undefined || live === null) return [{ port: slotPort(settings, slot) }]
    return [
      { port: slotPort(settings, live), weight: 100 - canaryWeight },
      { port: this.target.plan.targetPort, weight: canaryWeight },
    ]
  }

  /**
   * Step 2: reload nginx, then check that requests through nginx reach the slot (for a canary
   * step: one of the two slots sharing the traffic).
   */
  async reloadAndVerify(
    slot: Slot = this.target.plan.targetSlot,
    canaryWeight?: number,
  ): Promise<void> {
    const servers = this.servers(slot, canaryWeight)
    const toNewSlot = servers.some((s) => s.port === this.target.plan.targetPort)
    // Marked before the reload: if it fails half-way, nginx may already send traffic there.
    if (toNewSlot) this.newSlotTraffic = 'serving'
    await this.files.upstream.reload()
    this.reloaded(toNewSlot)
    const expected = servers.map((s) => `127.0.0.1:${s.port}`)
    await this.files.upstream.verify((answer) =>
      expected.includes(answer.upstream) && answer.status >= 200 && answer.status <= 299
        ? undefined
        : `nginx answered ${answer.status} from ${answer.upstream || 'no upstream'}, expected ${expected.join(' or ')}`,
    )
  }

  /** Canary abort: all traffic back on the live slot (the new one keeps running until stopped). */
  async backToLiveSlot(): Promise<void> {
    const live = this.target.plan.liveSlot
    if (live === null) return
    await this.restoreSite()
    await this.install(live)
    await this.reloadAndVerify(live)
    // Unless this run recorded its switch (a switch back does that next), nginx and state.json
    // agree again: nothing for the post step to repair there.
    if (!this.s.journal.has('recorded')) this.s.journal.clear('upstream')
  }

  /** nginx runs the config just reloaded; `toNewSlot`: whether it sends traffic to the new slot. */
  private reloaded(toNewSlot: boolean): void {
    this.reloadedAt = Date.now()
    if (!toNewSlot && this.newSlotTraffic === 'serving') this.newSlotTraffic = 'taken off'
  }

  /**
   * Puts the previous upstream file back (after a failed switch) and reloads nginx when `reload`
   * says the new file went live, or when this run had reloaded nginx before (a canary step).
   */
  async restore(reload: boolean): Promise<void> {
    // The site first: it names the upstream, which may go away.
    const site = await this.restoreSite()
    if (!this.s.journal.has('upstream')) {
      if (site && reload) await this.files.upstream.reload()
      return
    }
    await this.restoreAnyway(reload)
  }

  /**
   * Restore anyway: puts the upstream file from its backup back whether or not this run touched
   * it (the post step, for the run that did), and reloads nginx as restore does.
   */
  async restoreAnyway(reload: boolean): Promise<void> {
    await this.files.upstream.restore()
    if (reload || this.reloadedAt !== 0) {
      await this.files.upstream.reload()
      this.reloaded(false)
    }
    this.s.journal.clear('upstream')
  }
}
