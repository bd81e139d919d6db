/**
 * One host's part of a deploy: every per-host step the strategies share (lock, state, ship,
 * start, health, nginx switch, drain, stop, record). The strategies decide the order.
 */
import { HostError, errorMessage } from '../errors.js'
import type { Settings } from '../inputs.js'
import { formatDuration, info, warning } from '../log.js'
import { NO_COUNTS, canaryLogSpec, parseLogReading, type Counts } from '../canary/evidence.js'
import { renderSite, renderUpstream, type UpstreamServer } from '../nginx/render.js'
import { appUpstreamFile, managedSiteFile, type UpstreamFile } from '../nginx/upstream-file.js'
import { planHost, releasesToPrune, slotPort, wentLive, type HostPlan } from '../plan.js'
import { emptyHostReport, type HostReport } from '../report/model.js'
import { accessLogSince } from '../remote/commands/canary.js'
import {
  DRAIN_TIMED_OUT,
  drainProgress,
  quietChecks,
  waitForDrain,
} from '../remote/commands/drain.js'
import {
  readFiles,
  recordRelease,
  splitFiles,
  renderEnvFile,
  switchCurrent,
  writeEnvFile,
  writeStateFile,
} from '../remote/commands/files.js'
import {
  UNKNOWN_CHECKSUM,
  installRelease,
  listReleases,
  prepareLayout,
  releaseChecksum,
  removeReleases,
} from '../remote/commands/release.js'
import {
  builtinSlots,
  runInRelease,
  type SlotEnv,
  type SlotManager,
} from '../remote/commands/slot.js'
import {
  detectProcessManager,
  parseProcessManagerFacts,
  resolveProcessManager,
} from '../remote/commands/process-manager.js'
import { systemdSlots } from '../remote/commands/systemd.js'
import { layout, type Layout } from '../remote/layout.js'
import { cmd } from '../remote/shell.js'
import { parseState, type HostState, type ReleaseCommands, type Slot } from '../remote/state.js'
import type { Host } from '../ssh/host.js'
import type { ReleaseArchive } from '../release/index.js'
import { checkSlot, recheckHealthy, waitHealthy } from './health.js'
import type { HostJournal, Journal, JournalEntry } from './journal.js'
import { acquireLock, type HeldLock } from './lock.js'

export class HostDeploy {
  readonly layout: Layout
  /** The app's upstream include, and the managed site (`nginx-site`), switched the same way. */
  private readonly upstream: UpstreamFile
  private readonly siteFile: UpstreamFile
  /**
   * Starts, stops and watches the slots: the built-in process manager or systemd units (with
   * process-manager auto, known once readState() has asked the host).
   */
  slots!: SlotManager
  /** The process manager behind `slots` (process-manager auto: resolved by readState()). */
  private manager!: 'builtin' | 'systemd'
  state!: HostState
  plan!: HostPlan
  /**
   * What this run changed on the host (a slot started, the upstream or site file written,
   * `current` moved, the switch recorded): what a failure undoes, saved for the post step.
   */
  private readonly journal: HostJournal
  readonly report: HostReport
  /** What the current step is waiting for, for the log's heartbeat ('' when nothing to say). */
  progress = ''
  private lock: HeldLock | undefined
  private newPid: number | null = null
  /** Checksum of the release this run switches to, for the history. */
  private releaseSha256 = ''
  private stateBeforeRun!: HostState
  /** When this run last reloaded nginx (ms since the epoch; 0: not yet). */
  private reloadedAt = 0
  /**
   * The commands of the release this run moves to: the inputs for a deploy; for a rollback the
   * ones recorded with that release (undefined: recorded before commands were, and no
   * start-command given).
   */
  private commands: ReleaseCommands | undefined
  /**
   * Whether nginx sends (part of) the traffic to the new slot ('serving'), or did and was moved
   * off it again ('taken off': the slot drains before it stops, see stopNewSlot).
   */
  private newSlotTraffic: 'none' | 'serving' | 'taken off' = 'none'
  /**
   * The managed site (`nginx-site`) differs from the one the host has: the next upstream install
   * writes it too (once; whether it was written is the journal's `site`).
   */
  private siteToInstall = false

  constructor(
    readonly host: Host,
    private readonly settings: Settings,
    journal: Journal,
    /** The version this run moves the host to (a rollback sets it from the history). */
    public version: string,
  ) {
    this.layout = layout(settings.app.deployPath)
    this.journal = journal.of(host.name)
    this.upstream = appUpstreamFile(host, settings, this.layout)
    this.siteFile = managedSiteFile(host, settings, this.layout)
    if (settings.app.processManager !== 'auto') {
      this.manager = settings.app.processManager
      this.slots = slotManager(settings, this.manager, this.layout, host.address.user)
    }
    this.report = emptyHostReport(host.name)
    this.commands = inputCommands(settings)
  }

  get name(): string {
    return this.host.name
  }

  async acquireLock(holder: string): Promise<void> {
    this.lock = await acquireLock(this.host, this.layout, this.settings.lockTimeoutMs, holder)
  }

  async releaseLock(): Promise<void> {
    await this.lock?.release()
    this.lock = undefined
  }

  /**
   * Reads state.json and plans this host's part; refuses a corrupt state, a hand-edited upstream
   * or managed site, or a site file the action did not write. Resolves process-manager auto
   * first, and reports restarts of the live slot since its start.
   */
  async readState(): Promise<void> {
    if (this.settings.app.processManager === 'auto') await this.resolveProcessManager()
    const site = this.settings.site
    const files = [this.layout.state, this.settings.nginx.upstreamFile]
    const { stdout } = await this.host.exec(
      readFiles(site.serverNames.length > 0 ? [...files, site.file] : files),
      { step: 'read state' },
    )
    const [text = '', upstream = '', siteFile = ''] = splitFiles(stdout)
    try {
      this.state = this.stateBeforeRun = parseState(
        text === '' ? undefined : text,
        this.layout.state,
      )
    } catch (error) {
      throw new HostError(this.name, 'read state', errorMessage(error))
    }
    await this.reportRestarts()
    this.plan = planHost(this.settings, this.name, this.state, this.version)
    this.report.previousSlot = this.report.liveSlot = this.plan.liveSlot
    this.report.previousVersion = this.report.liveVersion = this.plan.liveVersion
    this.checkSite(siteFile)
    this.upstream.check(upstream, this.settings.force)
  }

  /** process-manager auto: systemd units or the built-in manager, as this host allows. */
  private async resolveProcessManager(): Promise<void> {
    const { name: app } = this.settings.app
    const user = this.host.address.user
    const { stdout } = await this.host.exec(detectProcessManager(app, this.settings.sudo), {
      step: 'process manager',
    })
    const resolved = resolveProcessManager(parseProcessManagerFacts(stdout), app, user)
    if (resolved.manager === 'error') {
      throw new HostError(this.name, 'process manager', resolved.reason)
    }
    info(`[${this.name}] process-manager auto: ${resolved.manager} (${resolved.reason})`)
    this.manager = resolved.manager
    this.slots = slotManager(this.settings, this.manager, this.layout, user)
  }

  /**
   * The live slot's app was restarted by the process manager since the action started it (a
   * crash, the OOM killer): a warning in this run's output, with where to look.
   */
  private async reportRestarts(): Promise<void> {
    const live = this.state.liveSlot
    if (live === null) return
    const { stdout } = await this.host.exec(this.slots.restarts(live), {
      step: 'read state',
    })
    const [count = '', when = '', ...why] = stdout.trim().split(/\s+/)
    if (!/^[1-9]\d*$/.test(count)) return
    const last = when ? `; last at ${when}: the app ${why.join(' ')}` : ''
    warning(
      `[${this.name}] the live ${live} slot (${this.state.slots[live]?.version ?? 'unknown version'}) was restarted ${count} time(s) by the process manager since it was started${last}. See ${this.slots.logName(live)}.`,
    )
  }

  /** The site as `nginx-site` renders it, or undefined without that input. */
  private renderedSite(): string | undefined {
    const { serverNames, listen } = this.settings.site
    if (serverNames.length === 0) return undefined
    return renderSite({ name: this.settings.app.name, serverNames, listen })
  }

  /**
   * With `nginx-site`: whether the site file must be written in this run. A file the action did
   * not write is never overwritten (not even with force); one it wrote and someone edited since is
   * overwritten only with force.
   */
  private checkSite(content: string): void {
    const rendered = this.renderedSite()
    if (rendered === undefined) return
    this.siteFile.check(content, this.settings.force)
    this.siteToInstall = content !== rendered
  }

  /**
   * Retargets this host at an earlier release from its history: `toVersion`, or the newest one
   * that is not live. Returns false when the host already serves it.
   */
  planRollback(toVersion: string): boolean {
    const live = this.plan.liveVersion
    const known = [...new Set(this.state.history.map((r) => r.version))]
    const target = toVersion
      ? this.state.history.find((r) => r.version === toVersion)
      : this.state.history.find((r) => r.version !== live)
    if (!target) {
      const detail = toVersion
        ? `version ${toVersion} is not in this host's history; available: ${known.join(', ') || 'none'}`
        : `nothing to roll back to: the history has ${known.length === 0 ? 'no release' : `only ${known.join(', ')}`}`
      throw new HostError(this.name, 'rollback', `${detail}. Nothing was changed.`)
    }
    this.version = target.version
    this.releaseSha256 = target.sha256
    // The release starts (and later stops) the way it was deployed; start-command only stands in
    // for a release recorded before the commands were.
    this.commands =
      target.commands ?? (this.settings.app.startCommand ? inputCommands(this.settings) : undefined)
    if (this.commands !== undefined) {
      const { user } = this.host.address
      this.slots = slotManager(this.settings, this.manager, this.layout, user, this.commands.stop)
    }
    this.plan = planHost(this.settings, this.name, this.state, target.version)
    return target.version !== live
  }

  /**
   * For a rollback: when the idle slot still runs the target release (keep-previous: warm, or a
   * rolling deploy that failed), it is used as it is; else the release is started there from
   * releases/. Returns whether a slot was started (and so needs a health check).
   */
  async startUnlessWarm(): Promise<boolean> {
    const idle = this.state.slots[this.plan.targetSlot]
    if (idle?.version === this.version && idle.pid !== null) {
      if (await this.slotRunning(this.plan.targetSlot, 'rollback: check warm slot')) {
        this.newPid = idle.pid
        return false
      }
    }
    const { stdout } = await this.host.exec(releaseChecksum(this.layout, this.version), {
      step: 'rollback',
    })
    if (stdout.trim() === '') {
      throw new HostError(
        this.name,
        'rollback',
        `release ${this.version} is no longer in ${this.layout.releases} (pruned by keep-releases); deploy it again instead.`,
      )
    }
    if (this.commands === undefined) {
      throw new HostError(
        this.name,
        'rollback',
        `release ${this.version} was deployed by an older version of this action, which did not record its start-command in state.json, and its slot is not running: give start-command (the command that starts ${this.version}) to this rollback. Nothing was changed.`,
      )
    }
    await this.startNewSlot()
    return true
  }

  /**
   * Post step after a main step that died mid-run: makes nginx and the slots agree with
   * state.json again (nginx on the live slot, a slot the run had started stopped). Returns what
   * it did, for the log.
   */
  async repair(entry: JournalEntry): Promise<string[]> {
    const live = this.state.liveSlot
    const done: string[] = []
    if (entry.siteTouched) {
      await this.restoreSiteAnyway()
      done.push('restored the site file from before the run')
    }
    if (entry.upstreamTouched) {
      if (live === null) {
        await this.restoreUpstreamAnyway(true)
        done.push('restored the upstream file from before the run')
      } else {
        await this.installUpstream(live)
        await this.reloadAndVerify(live)
        done.push(`nginx sends traffic to the live ${live} slot again`)
      }
    }
    if (entry.currentMovedFrom !== undefined) {
      const version = entry.currentMovedFrom
      await this.host.exec(switchCurrent(this.layout, version), { step: 'reload: switch back' })
      done.push(`current points at ${version} again`)
      if (live !== null && (await this.slotRunning(live, 'reload: check slot'))) {
        await this.reloadSlot(live, version)
        done.push(`reloaded the ${live} slot on it`)
      }
    }
    if (entry.startedSlot !== undefined && entry.startedSlot !== live) {
      // nginx no longer sends it anything (put back above, or by the main step, which may have
      // died while the slot drained): what nginx's old workers still finish there finishes first.
      await this.drainSlot(entry.startedSlot)
      await this.stopSlot(
        entry.startedSlot,
        this.state.slots[entry.startedSlot]?.version ?? this.version,
      )
      done.push(`stopped the ${entry.startedSlot} slot the run had started`)
    }
    return done
  }

  /** Whether this host already serves this exact release (same version and checksum). */
  isUnchanged(archive: ReleaseArchive): boolean {
    const live = this.state.liveSlot
    const latest = this.state.history[0]
    return (
      live !== null &&
      this.state.slots[live]?.version === this.version &&
      latest?.version === this.version &&
      latest.sha256 === archive.sha256
    )
  }

  /**
   * Uploads and installs the release unless the host has it. A release of this version with
   * other content is replaced only if it never went live (a rerun after a failed health check);
   * one that did is refused.
   */
  async ship(archive: ReleaseArchive): Promise<'uploaded' | 'already there' | 'replaced'> {
    const l = this.layout
    const { stdout } = await this.host.exec(prepareLayout(l, this.version), { step: 'ship' })
    const existing = stdout.trim()
    this.releaseSha256 = archive.sha256
    if (existing === archive.sha256) return 'already there'
    if (existing === UNKNOWN_CHECKSUM) {
      throw new HostError(
        this.name,
        'ship',
        `${l.release(this.version)} is already on the host but was not installed by this action (it has no checksum); nothing was changed. Give this build a new version, or remove that directory if it is not needed.`,
      )
    }
    if (existing !== '' && wentLive(this.state, this.version)) {
      throw new HostError(
        this.name,
        'ship',
        `release ${this.version} is already on the host with different content (sha256 ${existing}; this run built ${archive.sha256}). A version that went live must never change: give this build a new version.`,
      )
    }
    const upload = `${l.incoming}/${this.version}.${archive.sha256.slice(0, 12)}.tar.gz`
    await this.host.upload(archive.path, upload, archive.sha256, 'ship')
    await this.host.exec(installRelease(l, this.version, upload, archive.sha256, existing), {
      step: 'extract release',
    })
    return existing === '' ? 'uploaded' : 'replaced'
  }

  /** Writes shared/.env from `env` and `secret-env`; with both empty the file is not touched. */
  async writeEnv(): Promise<void> {
    const { env, secretEnv, keepReleases } = this.settings.app
    const content = renderEnvFile({ ...env, ...secretEnv })
    if (content === '') return
    await this.host.exec(writeEnvFile(this.layout, this.version, keepReleases), {
      step: 'write shared/.env',
      stdin: content,
    })
  }

  /** Variables the commands of a slot get (start, stop, migrations). */
  slotEnv(slot: Slot, version = this.version): SlotEnv {
    return {
      PORT: String(slotPort(this.settings, slot)),
      SLOT: slot,
      APP_VERSION: version,
      RELEASE_DIR: this.layout.release(version),
      DEPLOY_PATH: this.layout.root,
      RELEASE_NODE: `${this.settings.app.name}_${slot}`,
    }
  }

  /** Runs a one-off command (migrate, post-deploy) from the new release dir with its env. */
  async runInRelease(command: string, step: string): Promise<void> {
    const env = this.slotEnv(this.plan.targetSlot)
    await this.host.exec(runInRelease(this.layout, command, env), {
      step,
      onLine: this.showLine(step),
    })
  }

  /** Output of the operator's own commands (migrate, canary check) is shown as it comes. */
  private showLine(step: string): (line: string) => void {
    return (line) => info(`[${this.name}] ${step}: ${line}`)
  }

  /**
   * Strategy reload: one slot, the live one (blue on a fresh host), whose app server reloads
   * its code itself. `current` moves to the new release; a running server gets `reload-command`,
   * a stopped one is started from `current`; then the health check (with version-path, the new
   * version must answer). On failure `current` moves back and the server reloads again.
   */
  async deployInPlace(): Promise<void> {
    const slot = this.plan.liveSlot ?? 'blue'
    this.plan = { ...this.plan, targetSlot: slot, targetPort: slotPort(this.settings, slot) }
    const previous = this.plan.liveVersion
    const running = await this.slotRunning(slot, 'reload: check slot')
    // Journaled before the move: moving `current` back is harmless if it never moved.
    if (previous !== null) this.journal.mark({ kind: 'current moved', from: previous })
    await this.host.exec(switchCurrent(this.layout, this.version), {
      step: 'reload: switch current',
    })
    try {
      if (running) {
        this.newPid = this.state.slots[slot]?.pid ?? null
        await this.reloadSlot()
      } else {
        await this.startNewSlot(this.layout.current)
      }
      await this.waitHealthy()
      if (this.plan.liveSlot === null || this.siteToInstall) {
        await this.installUpstream(slot)
        await this.reloadAndVerify(slot)
      }
    } catch (error) {
      if (previous !== null) {
        await this.host.exec(switchCurrent(this.layout, previous), { step: 'reload: switch back' })
        if (running) await this.reloadSlot(slot, previous)
        this.journal.clear('current moved')
      }
      if (!running) await this.stopNewSlot()
      throw error
    }
  }

  private async slotRunning(slot: Slot, step: string): Promise<boolean> {
    return (await this.host.tryExec(this.slots.checkAlive(slot), { step })).exitCode === 0
  }

  private async reloadSlot(
    slot: Slot = this.plan.targetSlot,
    version = this.version,
  ): Promise<void> {
    await this.host.exec(
      this.slots.reload(slot, this.settings.app.reloadCommand, this.slotEnv(slot, version)),
      { step: 'reload: reload-command' },
    )
  }

  async startNewSlot(workdir?: string): Promise<void> {
    const slot = this.plan.targetSlot
    this.journal.mark({ kind: 'started slot', slot })
    const start = this.commands?.start ?? this.settings.app.startCommand
    const { stdout } = await this.host.exec(
      this.slots.start(slot, start, this.slotEnv(slot), workdir),
      { step: `start ${slot}` },
    )
    this.newPid = Number(stdout.trim().split('\n').pop())
  }

  /** Waits until the new slot is healthy; returns how many checks it took. */
  async waitHealthy(): Promise<number> {
    const started = Date.now()
    return waitHealthy(...this.healthTarget(), (attempt, problem) => {
      const left = this.settings.health.timeoutMs - (Date.now() - started)
      this.progress = `attempt ${attempt}, last answer: ${problem} (${formatDuration(left)} left)`
    })
  }

  /** Right before the switch: the target slot still runs and passes its checks. */
  async recheckHealthy(): Promise<void> {
    await recheckHealthy(...this.healthTarget(), this.journal.has('started slot'))
  }

  private healthTarget() {
    const { targetSlot, targetPort } = this.plan
    const { host, slots, settings, version } = this
    return [host, slots, targetSlot, targetPort, settings.health, version] as const
  }

  /**
   * Stops the slot this run started: on a failure before the switch, and on every switch back
   * (rolling rollback, canary abort, a failed all-or-nothing switch). When nginx had sent traffic
   * to it and was moved off it, it drains first (bounded by drain-timeout), as the old slot does
   * after a forward switch: requests nginx's old workers still finish there are not cut.
   */
  async stopNewSlot(): Promise<void> {
    if (!this.journal.has('started slot')) return
    if (this.newSlotTraffic === 'taken off') await this.drainSlot(this.plan.targetSlot)
    await this.stopSlot(this.plan.targetSlot, this.version)
    this.journal.clear('started slot')
  }

  /**
   * Step 1 of a switch to `slot` (the new one, or the previous one when switching back): the
   * upstream file in place and the nginx config tested, not yet live.
   */
  async installUpstream(slot: Slot = this.plan.targetSlot, canaryWeight?: number): Promise<void> {
    this.journal.mark({ kind: 'upstream' })
    const content = renderUpstream({
      name: this.settings.app.name,
      servers: this.upstreamServers(slot, canaryWeight),
      liveSlot: canaryWeight === undefined ? slot : (this.plan.liveSlot ?? slot),
      verifyPort: this.settings.nginx.verifyPort,
      canaryLogFormat: true,
      // Not when going back to the live slot: that must work even if nginx refused the log.
      canaryLog: slot === this.plan.targetSlot ? canaryLogSpec(this.settings) : undefined,
      stickyCookie: this.settings.canary.stickyCookie || undefined,
    })
    await this.upstream.install(content)
    if (this.siteToInstall) await this.installSite()
  }

  /**
   * The managed site, after the upstream it proxies to: written as the upstream file is (the one
   * before kept as a backup, through `sudo -n tee` where only sudo may write it), then nginx -t.
   */
  private async installSite(): Promise<void> {
    this.siteToInstall = false
    this.journal.mark({ kind: 'site' })
    await this.siteFile.install(this.renderedSite() ?? '')
  }

  /** Puts back the site file from before the run (none: removes it), if this run wrote it. */
  private async restoreSite(): Promise<boolean> {
    if (!this.journal.has('site')) return false
    await this.restoreSiteAnyway()
    return true
  }

  /**
   * Restore anyway: puts back the site file from its backup whether or not this run wrote it (the
   * post step, for the run that did), and does not write it again.
   */
  async restoreSiteAnyway(): Promise<void> {
    await this.siteFile.restore()
    this.siteToInstall = false
    this.journal.clear('site')
  }

  /**
   * `slot` alone; or, for a canary step, the live slot and the new one sharing the traffic by
   * weight (the new one gets `canaryWeight` percent).
   */
  private upstreamServers(slot: Slot, canaryWeight?: number): UpstreamServer[] {
    const live = this.plan.liveSlot
    if (canaryWeight === undefined || live === null)
      return [{ port: slotPort(this.settings, slot) }]
    return [
      { port: slotPort(this.settings, live), weight: 100 - canaryWeight },
      { port: this.plan.targetPort, weight: canaryWeight },
    ]
  }

  /**
   * Step 2: reload nginx, then check that requests through nginx reach the slot (for a canary
   * step: one of the two slots sharing the traffic).
   */
  async reloadAndVerify(slot: Slot = this.plan.targetSlot, canaryWeight?: number): Promise<void> {
    const servers = this.upstreamServers(slot, canaryWeight)
    const toNewSlot = servers.some((s) => s.port === this.plan.targetPort)
    // Marked before the reload: if it fails half-way, nginx may already send traffic there.
    if (toNewSlot) this.newSlotTraffic = 'serving'
    await this.upstream.reload()
    this.reloaded(toNewSlot)
    const expected = servers.map((s) => `127.0.0.1:${s.port}`)
    await this.upstream.verify((answer) =>
      expected.includes(answer.upstream) && answer.status >= 200 && answer.status <= 299
        ? undefined
        : `nginx answered ${answer.status} from ${answer.upstream || 'no upstream'}, expected ${expected.join(' or ')}`,
    )
  }

  /** Canary abort: all traffic back on the live slot (the new one keeps running until stopped). */
  async backToLiveSlot(): Promise<void> {
    const live = this.plan.liveSlot
    if (live === null) return
    await this.restoreSite()
    await this.installUpstream(live)
    await this.reloadAndVerify(live)
    // Unless this run recorded its switch (a switch back does that next), nginx and state.json
    // agree again: nothing for the post step to repair there.
    if (!this.journal.has('recorded')) this.journal.clear('upstream')
  }

  /** One health check of the new slot during a canary bake: what is wrong, or undefined. */
  async canaryHealthProblem(): Promise<string | undefined> {
    return checkSlot(...this.healthTarget(), 'canary')
  }

  /**
   * The canary access log from byte `offset` on (no offset: from its end): the new slot's requests
   * and 5xx, how many requests reached either of the app's slots (0: not the serving site's log),
   * and the offset to read from next time; null when the host has no readable log.
   */
  async canaryLog(
    offset?: number,
  ): Promise<{ counts: Counts; appRequests: number; offset: number } | null> {
    const { stdout } = await this.host.exec(
      accessLogSince(this.settings.canary.accessLog, offset),
      { step: 'canary: read access log' },
    )
    const reading = parseLogReading(stdout)
    if (reading.missing) return null
    const counts = reading.byUpstream.get(`127.0.0.1:${this.plan.targetPort}`) ?? NO_COUNTS
    const appRequests = (['blue', 'green'] as const)
      .map((slot) => reading.byUpstream.get(`127.0.0.1:${slotPort(this.settings, slot)}`))
      .reduce((sum, c) => sum + (c?.requests ?? 0), 0)
    return { counts, appRequests, offset: reading.size }
  }

  /** canary-check-command, on this host from the new release; throws when it exits non-zero. */
  async runCanaryCheck(weight: string): Promise<void> {
    const env = this.slotEnv(this.plan.targetSlot)
    await this.host.exec(
      runInRelease(this.layout, this.settings.canary.checkCommand, env, { CANARY_WEIGHT: weight }),
      { step: 'canary: canary-check-command', onLine: this.showLine('canary-check-command') },
    )
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
  async restoreUpstream(reload: boolean): Promise<void> {
    // The site first: it names the upstream, which may go away.
    const site = await this.restoreSite()
    if (!this.journal.has('upstream')) {
      if (site && reload) await this.upstream.reload()
      return
    }
    await this.restoreUpstreamAnyway(reload)
  }

  /**
   * Restore anyway: puts the upstream file from its backup back whether or not this run touched
   * it (the post step, for the run that did), and reloads nginx as restoreUpstream does.
   */
  async restoreUpstreamAnyway(reload: boolean): Promise<void> {
    await this.upstream.restore()
    if (reload || this.reloadedAt !== 0) {
      await this.upstream.reload()
      this.reloaded(false)
    }
    this.journal.clear('upstream')
  }

  /**
   * Rollback of a switched host while its previous slot still runs (rolling with on-failure
   * rollback): nginx back to the previous slot, previous state and `current`, new slot drained
   * and stopped.
   */
  async switchBack(): Promise<void> {
    const previous = this.plan.liveSlot
    if (previous === null) {
      throw new HostError(
        this.name,
        'switch back',
        'no previous version to switch back to (first deploy)',
      )
    }
    await this.backToLiveSlot()
    await this.revertRecord()
    await this.stopNewSlot()
    this.journal.clear('upstream')
    this.report.outcome = 'reverted'
  }

  /** After the switch: `current` and state.json name the new release; the old slot is still up. */
  async recordSwitch(): Promise<void> {
    const slot = this.plan.targetSlot
    const now = new Date().toISOString()
    this.state = {
      ...this.state,
      liveSlot: slot,
      slots: {
        ...this.state.slots,
        [slot]: {
          version: this.version,
          port: this.plan.targetPort,
          pid: this.newPid,
          startedAt: now,
        },
      },
      history: [
        {
          version: this.version,
          sha256: this.releaseSha256,
          slot,
          deployedAt: now,
          ...(this.commands === undefined ? {} : { commands: this.commands }),
        },
        ...this.state.history.filter((r) => r.version !== this.version),
      ],
    }
    await this.host.exec(recordRelease(this.layout, this.version), {
      step: 'record',
      stdin: this.stateText(),
    })
    this.journal.mark({ kind: 'recorded' })
    this.report.outcome = 'deployed'
    this.report.liveSlot = slot
    this.report.liveVersion = this.version
  }

  /** Undoes recordSwitch after a failed switch: the previous state and `current` come back. */
  async revertRecord(): Promise<void> {
    if (this.state === this.stateBeforeRun) return
    this.state = this.stateBeforeRun
    this.journal.clear('recorded')
    await this.writeState()
    const previous = this.plan.liveVersion
    await this.host.exec(
      previous === null
        ? cmd('rm', '-f', this.layout.current)
        : switchCurrent(this.layout, previous),
      { step: 'revert current' },
    )
    this.report.outcome = 'failed'
    this.report.liveSlot = this.plan.liveSlot
    this.report.liveVersion = this.plan.liveVersion
  }

  /**
   * Waits for the old slot to drain (bounded by drain-timeout). Returns false on timeout. The
   * quiet window counts from this run's nginx reload, which mostly lies behind us by now.
   */
  async drainOldSlot(): Promise<boolean> {
    const old = this.plan.liveSlot
    return old === null ? true : this.drainSlot(old, 'the old slot')
  }

  /**
   * Every drain of a slot nginx was moved off (forward switch, switch back, post-step repair):
   * waits until the requests nginx's old workers still finish on it are done, bounded by
   * drain-timeout, the quiet window counting from this run's last reload. On timeout it warns
   * (the slot is stopped anyway) and returns false.
   */
  private async drainSlot(slot: Slot, what = `the ${slot} slot`): Promise<boolean> {
    const since = this.reloadedAt === 0 ? 0 : Date.now() - this.reloadedAt
    const idle = await this.waitIdle(slotPort(this.settings, slot), quietChecks(since))
    if (!idle) {
      warning(
        `[${this.name}] ${what} still had connections after drain-timeout; stopping it anyway`,
      )
    }
    return idle
  }

  /**
   * Waits until no connection to `port` is open any more (in-flight requests finished), bounded
   * by drain-timeout. Returns false on timeout.
   */
  async waitIdle(port: number, quiet = quietChecks()): Promise<boolean> {
    const timeoutMs = this.settings.slots.drainTimeoutMs
    if (timeoutMs === 0) return true
    const started = Date.now()
    const result = await this.host.tryExec(waitForDrain(port, timeoutMs, quiet), {
      step: 'drain',
      onLine: (line) => {
        const open = drainProgress(line)
        if (open === undefined) return
        const waited = formatDuration(Date.now() - started)
        this.progress = `${open} connection(s) to port ${port} left after ${waited} (drain-timeout ${formatDuration(timeoutMs)})`
      },
    })
    if (result.exitCode === 0) return true
    if (result.exitCode === DRAIN_TIMED_OUT) return false
    throw new HostError(
      this.name,
      'drain',
      `drain check failed (exit ${result.exitCode}): ${result.stderr}`,
    )
  }

  async stopOldSlot(): Promise<void> {
    const old = this.plan.liveSlot
    if (old === null) return
    const previous = this.state.slots[old]
    await this.stopSlot(old, previous?.version ?? this.version)
    if (previous) {
      this.state = {
        ...this.state,
        slots: { ...this.state.slots, [old]: { ...previous, pid: null } },
      }
      await this.writeState()
    }
  }

  /** Removes releases beyond keep-releases (never the live or the previous one). */
  async pruneReleases(): Promise<string[]> {
    const { stdout } = await this.host.exec(listReleases(this.layout), { step: 'prune' })
    const present = stdout.split('\n').filter((name) => name !== '' && !name.includes('.tmp.'))
    const prune = releasesToPrune(present, this.state, this.settings.app.keepReleases)
    if (prune.length === 0) return prune
    await this.host.exec(removeReleases(this.layout, prune), { step: 'prune' })
    // A pruned release can no longer be rolled back to: its history entry goes too, so that
    // state.json stays as bounded as releases/.
    const history = this.state.history.filter((r) => !prune.includes(r.version))
    if (history.length < this.state.history.length) {
      this.state = { ...this.state, history }
      await this.writeState()
    }
    return prune
  }

  private async stopSlot(slot: Slot, version: string): Promise<void> {
    const env = {
      ...this.slotEnv(slot),
      APP_VERSION: version,
      RELEASE_DIR: this.layout.release(version),
    }
    await this.host.exec(this.slots.stop(slot, this.stopCommandOf(version), env), {
      step: `stop ${slot}`,
    })
  }

  /**
   * The stop-command of a release: this run's for its own release, else the one recorded when
   * that release was deployed (a slot stops the way it was started), else the input.
   */
  private stopCommandOf(version: string): string {
    if (version === this.version && this.commands !== undefined) return this.commands.stop
    const recorded = this.state.history.find((r) => r.version === version)?.commands
    return recorded?.stop ?? this.settings.app.stopCommand
  }

  private async writeState(): Promise<void> {
    await this.host.exec(writeStateFile(this.layout), {
      step: 'write state',
      stdin: this.stateText(),
    })
  }

  private stateText(): string {
    return `${JSON.stringify(this.state, null, 2)}\n`
  }
}

/**
 * The process manager for one host (`user`: its login user). A systemd unit keeps the
 * `stopCommand` it was started with.
 */
function slotManager(
  settings: Settings,
  manager: 'builtin' | 'systemd',
  l: Layout,
  user: string,
  stopCommand = settings.app.stopCommand,
): SlotManager {
  const stopTimeoutSeconds = Math.max(1, Math.ceil(settings.slots.stopTimeoutMs / 1000))
  if (manager === 'builtin') return builtinSlots(l, stopTimeoutSeconds)
  const { name: app } = settings.app
  return systemdSlots(l, { app, user, sudo: settings.sudo, stopCommand, stopTimeoutSeconds })
}

/** The commands the inputs give, as recorded with a release in state.json. */
function inputCommands(settings: Settings): ReleaseCommands {
  const { startCommand: start, stopCommand: stop, reloadCommand: reload } = settings.app
  return { start, stop, reload }
}
