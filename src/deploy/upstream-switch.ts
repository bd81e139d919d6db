/**
 * A host's nginx switch: the app's upstream include, and the managed site (`nginx-site`), written
 * and tested (install), made live (reload and verify, with the record of the release) and put
 * back (restore), each through the one UpstreamFile of src/nginx/: the switch script, one exec
 * per stage. Every change is marked in the host's journal before it is made.
 */
import { errorMessage } from '../common/errors.js'
import type { Settings } from '../inputs/settings.js'
import { evidenceLogSpec } from '../nginx/evidence-log.js'
import { renderSite, renderUpstream, type UpstreamServer } from '../nginx/render.js'
import {
  appUpstreamFile,
  managedSiteFile,
  type SwitchRequest,
  type UpstreamFile,
} from '../nginx/upstream-file.js'
import type { HttpClientChoice } from '../remote/commands/http.js'
import type { Shell } from '../remote/shell.js'
import type { SwitchStage } from '../remote/commands/switch.js'
import { warning } from '../report/log.js'
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

/** What the switch script checks and records besides nginx (HostDeploy gives them). */
export interface SwitchExtras {
  /** install/all: the target slot still runs and answers; how to check it without an HTTP client. */
  recheck?: NonNullable<SwitchRequest['recheck']> & { throughTunnel: () => Promise<void> }
  /** activate/all: state.json and `current` name the new release once the switch is verified. */
  record?: SwitchRequest['record']
  /**
   * install/all: the release's asset folders bridged first (a rollback's: AssetBridge), and
   * what takes the bridge's output.
   */
  bridge?: { script: Shell; took: (stdout: string) => void }
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
    /** The host's HTTP client for the switch script ('auto': the script looks, and says which). */
    private client: HttpClientChoice = 'auto',
  ) {}

  /** The HTTP client the switch script uses (learned from its answer when it was 'auto'). */
  get httpClient(): HttpClientChoice {
    return this.client
  }

  /** Whether the next install writes the managed site too. */
  get sitePending(): boolean {
    return this.siteToInstall
  }

  /** nginx sent traffic to the new slot and was moved off it: the slot drains before it stops. */
  get newSlotTakenOff(): boolean {
    return this.newSlotTraffic === 'taken off'
  }

  /** nginx was told to send the new slot traffic in this run (a reload may have done so). */
  get newSlotServed(): boolean {
    return this.newSlotTraffic !== 'none'
  }

  /** How long ago this run last reloaded nginx (0: it did not), for a drain's quiet window. */
  sinceReload(): number {
    return this.reloadedAt === 0 ? 0 : Date.now() - this.reloadedAt
  }

  /**
   * The switch to `slot` (the new one, or the previous one when switching back; with
   * `canaryWeight`, the live slot and the new one sharing the traffic) as one stage of the switch
   * script: `install` ((recheck,) install, test: not live until a reload; then the managed site
   * when it is pending), `activate` (reload, verify that requests through nginx reach the slot (for
   * a canary step: one of the two), (record)), or `all` in one exec (two with a pending site,
   * which goes in between). A failure puts the upstream file from before back (on the host, in
   * the same exec) and throws. Returns whether `extras.record` was recorded by the script; false
   * when the host has no HTTP client: it was verified through the tunnel, the caller records.
   */
  async switch(
    stage: SwitchStage,
    slot: Slot = this.target.plan.targetSlot,
    canaryWeight?: number,
    extras: SwitchExtras = {},
  ): Promise<boolean> {
    if (stage === 'all' && this.siteToInstall) {
      await this.switch('install', slot, canaryWeight, extras)
      return this.switch('activate', slot, canaryWeight, { record: extras.record })
    }
    const servers = this.servers(slot, canaryWeight)
    const reloads = stage !== 'install'
    const toNewSlot = reloads && servers.some((s) => s.port === this.target.plan.targetPort)
    const traffic = this.newSlotTraffic
    const marked = this.s.journal.has('upstream')
    this.s.journal.mark({ kind: 'upstream' })
    // Marked before the reload: if it fails half-way, nginx may already send traffic there.
    if (toNewSlot) this.newSlotTraffic = 'serving'
    const expected = servers.map((s) => `127.0.0.1:${s.port}`)
    const { result, stdout, error } = await this.files.upstream.switch({
      stage,
      content: stage === 'activate' ? undefined : this.render(slot, canaryWeight),
      recheck: stage === 'activate' ? undefined : extras.recheck,
      expected,
      record: reloads ? extras.record : undefined,
      bridge: stage === 'activate' ? undefined : extras.bridge?.script,
      client: this.client,
    })
    if (result.steps.includes('bridge')) extras.bridge?.took(stdout)
    if (result.client) this.client = result.client
    // The recheck failed, or needs the tunnel: nothing was touched.
    const untouched = result.noClient || result.failedStep === 'recheck'
    if (untouched && !marked) this.s.journal.clear('upstream')
    if (result.noClient && extras.recheck) {
      // The recheck goes through the tunnel, then the switch without it.
      this.newSlotTraffic = traffic
      await extras.recheck.throughTunnel()
      return this.switch(stage, slot, canaryWeight, { ...extras, recheck: undefined })
    }
    if (error) {
      if (result.steps.includes('reload')) {
        if (result.reloaded) this.reloaded(false)
      } else if (result.failedStep !== undefined) {
        this.newSlotTraffic = traffic
      }
      if (result.restored) await this.restored(result.steps.includes('reload'), result.reloaded)
      throw error
    }
    if (reloads) this.reloaded(toNewSlot)
    else if (this.siteToInstall) await this.installSite()
    if (!reloads || !result.verifySkipped) return reloads && extras.record !== undefined
    await this.files.upstream.verify((answer) =>
      expected.includes(answer.upstream) && answer.status >= 200 && answer.status <= 299
        ? undefined
        : `nginx answered ${answer.status} from ${answer.upstream || 'no upstream'}, expected ${expected.join(' or ')}`,
    )
    return false
  }

  /**
   * The script put the upstream file from before back (`reloaded`: and nginx on it). nginx runs
   * it again unless an earlier reload of this run (a canary step) is still live: reloaded here.
   */
  private async restored(reloadStarted: boolean, reloaded: boolean): Promise<void> {
    if (reloadStarted && !reloaded) return // nginx may run either file: the revert reloads
    if (!reloaded && this.reloadedAt !== 0) {
      try {
        await this.files.upstream.reload()
      } catch (error) {
        warning(`[${this.s.name}] ${errorMessage(error)}`)
        return
      }
      this.reloaded(false)
    }
    this.s.journal.clear('upstream')
  }

  /** Step 1 of a switch to `slot`: install and test (see switch). */
  async install(slot: Slot = this.target.plan.targetSlot, canaryWeight?: number): Promise<void> {
    await this.switch('install', slot, canaryWeight)
  }

  /** Step 2 of a switch to `slot`: reload and verify (see switch). */
  async reloadAndVerify(
    slot: Slot = this.target.plan.targetSlot,
    canaryWeight?: number,
  ): Promise<void> {
    await this.switch('activate', slot, canaryWeight)
  }

  /** The upstream file for `slot` (and `canaryWeight`: see servers). */
  private render(slot: Slot, canaryWeight?: number): string {
    const { settings } = this.s
    const plan = this.target.plan
    return renderUpstream({
      name: settings.app.name,
      servers: this.servers(slot, canaryWeight),
      liveSlot: canaryWeight === undefined ? slot : (plan.liveSlot ?? slot),
      verifyPort: settings.nginx.verifyPort,
      canaryLogFormat: true,
      // Not when going back to the live slot: that must work even if nginx refused the log.
      canaryLog: slot === plan.targetSlot ? evidenceLogSpec(settings) : undefined,
      stickyCookie: settings.canary.stickyCookie || undefined,
    })
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

  /** Canary abort: all traffic back on the live slot (the new one keeps running until stopped). */
  async backToLiveSlot(): Promise<void> {
    const live = this.target.plan.liveSlot
    if (live === null) return
    await this.restoreSite()
    await this.switch('all', live)
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
