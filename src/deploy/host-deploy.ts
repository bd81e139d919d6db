/**
 * One host's part of a deploy: every per-host step the strategies share (lock, state, ship,
 * start, health, nginx switch, drain, stop, record). The strategies decide the order.
 */
import { HostError, errorMessage } from '../errors.js'
import type { Settings } from '../inputs.js'
import { formatDuration, info } from '../log.js'
import { NO_COUNTS, parseLogReading, type Counts } from '../canary.js'
import { renderUpstream, upstreamOwnership, type UpstreamServer } from '../nginx.js'
import { planHost, releasesToPrune, slotPort, type HostPlan } from '../plan.js'
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
  installUpstream,
  reloadNginx,
  restoreUpstream,
  type NginxCommands,
} from '../remote/commands/nginx.js'
import {
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
import { systemdSlots } from '../remote/commands/systemd.js'
import { layout, type Layout } from '../remote/layout.js'
import { cmd } from '../remote/shell.js'
import { parseState, type HostState, type Slot } from '../remote/state.js'
import type { RemoteHost } from '../ssh/connection.js'
import type { ReleaseArchive } from '../release/index.js'
import { checkSlot, recheckHealthy, waitHealthy } from './health.js'
import type { Journal, JournalEntry } from './journal.js'
import { verifyThroughNginx } from './verify.js'
import { acquireLock, type HeldLock } from './lock.js'

export class HostDeploy {
  readonly layout: Layout
  /** Starts, stops and watches the slots: the built-in process manager or systemd units. */
  readonly slots: SlotManager
  state!: HostState
  plan!: HostPlan
  /** Set once the new slot was started, so a failure knows to stop it. */
  private startedNewSlot = false
  /** Set once the upstream file was touched, so a failure knows to restore it. */
  private touchedUpstream = false
  /** Strategy reload: the version `current` pointed at before this run moved it. */
  private movedCurrentFrom: string | undefined
  /** Set once the upstream file from before the run was backed up (the file a restore brings back). */
  private backedUpUpstream = false
  /** Set while state.json names this run's release as live. */
  private recorded = false
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

  constructor(
    readonly host: RemoteHost,
    private readonly settings: Settings,
    private readonly journal: Journal,
    /** The version this run moves the host to (a rollback sets it from the history). */
    public version: string,
  ) {
    this.layout = layout(settings.app.deployPath)
    this.slots = slotManager(settings, this.layout, host.address.user)
    this.report = emptyHostReport(host.name)
  }

  get name(): string {
    return this.host.name
  }

  /** Tells the journal what the post step would have to repair if the run died now. */
  private noteJournal(): void {
    this.journal.set(this.name, {
      startedSlot: this.startedNewSlot && !this.recorded ? this.plan.targetSlot : undefined,
      upstreamTouched: this.touchedUpstream && !this.recorded,
      currentMovedFrom: this.recorded ? undefined : this.movedCurrentFrom,
    })
  }

  async acquireLock(holder: string): Promise<void> {
    this.lock = await acquireLock(this.host, this.layout, this.settings.lockTimeoutMs, holder)
  }

  async releaseLock(): Promise<void> {
    await this.lock?.release()
    this.lock = undefined
  }

  /** Reads state.json and plans this host's part; refuses a corrupt state or a hand-edited upstream. */
  async readState(): Promise<void> {
    const { stdout } = await this.host.exec(
      readFiles([this.layout.state, this.settings.nginx.upstreamFile]),
      { step: 'read state' },
    )
    const [text = '', upstream = ''] = splitFiles(stdout)
    try {
      this.state = this.stateBeforeRun = parseState(
        text === '' ? undefined : text,
        this.layout.state,
      )
    } catch (error) {
      throw new HostError(this.name, 'read state', errorMessage(error))
    }
    this.plan = planHost(this.settings, this.name, this.state, this.version)
    this.report.previousSlot = this.report.liveSlot = this.plan.liveSlot
    this.report.previousVersion = this.report.liveVersion = this.plan.liveVersion
    const ownership = upstreamOwnership(upstream)
    if ((ownership === 'drifted' || ownership === 'foreign') && !this.settings.force) {
      const what =
        ownership === 'drifted'
          ? 'was edited by hand since the last deploy (drift)'
          : 'was not written by this action'
      throw new HostError(
        this.name,
        'check upstream',
        `${this.settings.nginx.upstreamFile} ${what}; nothing was changed. Move your changes to your site config, then rerun with force: true to let the action overwrite it.`,
      )
    }
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
    if (entry.upstreamTouched) {
      if (live === null) {
        this.touchedUpstream = true
        await this.restoreUpstream(true)
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

  /** Uploads and installs the release unless the host has it; refuses a changed release. */
  async ship(archive: ReleaseArchive): Promise<'uploaded' | 'already there'> {
    const l = this.layout
    const { stdout } = await this.host.exec(prepareLayout(l, this.version), { step: 'ship' })
    const existing = stdout.trim()
    this.releaseSha256 = archive.sha256
    if (existing === archive.sha256) return 'already there'
    if (existing !== '') {
      throw new HostError(
        this.name,
        'ship',
        `release ${this.version} is already on the host with different content (sha256 ${existing}; this run built ${archive.sha256}). A deployed version must never change: give this build a new version.`,
      )
    }
    const upload = `${l.incoming}/${this.version}.${archive.sha256.slice(0, 12)}.tar.gz`
    await this.host.upload(archive.path, upload, archive.sha256, 'ship')
    await this.host.exec(installRelease(l, this.version, upload, archive.sha256), {
      step: 'extract release',
    })
    return 'uploaded'
  }

  async writeEnv(): Promise<void> {
    await this.host.exec(writeEnvFile(this.layout), {
      step: 'write shared/.env',
      stdin: renderEnvFile(this.settings.app.env),
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
    this.movedCurrentFrom = previous ?? undefined
    this.noteJournal()
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
      if (this.plan.liveSlot === null) {
        await this.installUpstream(slot)
        await this.reloadAndVerify(slot)
      }
    } catch (error) {
      if (previous !== null) {
        await this.host.exec(switchCurrent(this.layout, previous), { step: 'reload: switch back' })
        if (running) await this.reloadSlot(slot, previous)
        this.movedCurrentFrom = undefined
        this.noteJournal()
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
    this.startedNewSlot = true
    this.noteJournal()
    const { stdout } = await this.host.exec(
      this.slots.start(slot, this.settings.app.startCommand, this.slotEnv(slot), workdir),
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
    await recheckHealthy(...this.healthTarget())
  }

  private healthTarget() {
    const { targetSlot, targetPort } = this.plan
    const { host, slots, settings, version } = this
    return [host, slots, targetSlot, targetPort, settings.health, version] as const
  }

  /** Stops the slot this run started (on failure before the switch). */
  async stopNewSlot(): Promise<void> {
    if (!this.startedNewSlot) return
    await this.stopSlot(this.plan.targetSlot, this.version)
    this.startedNewSlot = false
    this.noteJournal()
  }

  /**
   * Step 1 of a switch to `slot` (the new one, or the previous one when switching back): the
   * upstream file in place and the nginx config tested, not yet live.
   */
  async installUpstream(slot: Slot = this.plan.targetSlot, canaryWeight?: number): Promise<void> {
    this.touchedUpstream = true
    this.noteJournal()
    const content = renderUpstream({
      name: this.settings.app.name,
      servers: this.upstreamServers(slot, canaryWeight),
      liveSlot: canaryWeight === undefined ? slot : (this.plan.liveSlot ?? slot),
      verifyPort: this.settings.nginx.verifyPort,
      canaryLogFormat: true,
      stickyCookie: this.settings.canary.stickyCookie || undefined,
    })
    const { upstreamFile } = this.settings.nginx
    const backup = this.backedUpUpstream ? 'keep' : 'take'
    const install = installUpstream(upstreamFile, this.layout.upstreamBackup, this.nginx(), backup)
    await this.host.exec(install, {
      step: 'switch: install upstream and test nginx',
      stdin: content,
    })
    this.backedUpUpstream = true
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
    await this.host.exec(reloadNginx(this.nginx()), { step: 'switch: reload nginx' })
    this.reloadedAt = Date.now()
    const expected = this.upstreamServers(slot, canaryWeight).map((s) => `127.0.0.1:${s.port}`)
    await verifyThroughNginx(
      this.host,
      this.settings.nginx.verifyPort,
      this.settings.health.path,
      (answer) =>
        expected.includes(answer.upstream) && answer.status >= 200 && answer.status <= 299
          ? undefined
          : `nginx answered ${answer.status} from ${answer.upstream || 'no upstream'}, expected ${expected.join(' or ')}`,
    )
  }

  /** Canary abort: all traffic back on the live slot (the new one keeps running until stopped). */
  async backToLiveSlot(): Promise<void> {
    const live = this.plan.liveSlot
    if (live === null) return
    await this.installUpstream(live)
    await this.reloadAndVerify(live)
    // Unless this run recorded its switch (a switch back does that next), nginx and state.json
    // agree again: nothing for the post step to repair there.
    if (!this.recorded) {
      this.touchedUpstream = false
      this.noteJournal()
    }
  }

  /** One health check of the new slot during a canary bake: what is wrong, or undefined. */
  async canaryHealthProblem(): Promise<string | undefined> {
    return checkSlot(...this.healthTarget(), 'during the canary')
  }

  /**
   * The canary access log from byte `offset` on (no offset: from its end): the new slot's requests
   * and 5xx, and the offset to read from next time; null when the host has no readable log.
   */
  async canaryLog(offset?: number): Promise<{ counts: Counts; offset: number } | null> {
    const { stdout } = await this.host.exec(
      accessLogSince(this.settings.canary.accessLog, offset),
      { step: 'canary: read access log' },
    )
    const reading = parseLogReading(stdout)
    if (reading.missing) return null
    const counts = reading.byUpstream.get(`127.0.0.1:${this.plan.targetPort}`) ?? NO_COUNTS
    return { counts, offset: reading.size }
  }

  /** canary-check-command, on this host from the new release; throws when it exits non-zero. */
  async runCanaryCheck(weight: string): Promise<void> {
    const env = this.slotEnv(this.plan.targetSlot)
    await this.host.exec(
      runInRelease(this.layout, this.settings.canary.checkCommand, env, { CANARY_WEIGHT: weight }),
      { step: 'canary: canary-check-command', onLine: this.showLine('canary-check-command') },
    )
  }

  /** Puts the previous upstream file back and reloads nginx (after a failed switch). */
  async restoreUpstream(reload: boolean): Promise<void> {
    if (!this.touchedUpstream) return
    await this.host.exec(
      restoreUpstream(
        this.settings.nginx.upstreamFile,
        this.layout.upstreamBackup,
        this.settings.sudo,
      ),
      {
        step: 'switch: restore upstream',
      },
    )
    if (reload) await this.host.exec(reloadNginx(this.nginx()), { step: 'switch: reload nginx' })
    this.touchedUpstream = false
    this.noteJournal()
  }

  /**
   * Rollback of a switched host while its previous slot still runs (rolling with on-failure
   * rollback): nginx back to the previous slot, previous state and `current`, new slot stopped.
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
    this.touchedUpstream = false
    this.noteJournal()
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
        { version: this.version, sha256: this.releaseSha256, slot, deployedAt: now },
        ...this.state.history.filter((r) => r.version !== this.version),
      ],
    }
    await this.host.exec(recordRelease(this.layout, this.version), {
      step: 'record',
      stdin: this.stateText(),
    })
    this.recorded = true
    this.noteJournal()
    this.report.outcome = 'deployed'
    this.report.liveSlot = slot
    this.report.liveVersion = this.version
  }

  /** Undoes recordSwitch after a failed switch: the previous state and `current` come back. */
  async revertRecord(): Promise<void> {
    if (this.state === this.stateBeforeRun) return
    this.state = this.stateBeforeRun
    this.recorded = false
    this.noteJournal()
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
    if (old === null) return true
    const since = this.reloadedAt === 0 ? 0 : Date.now() - this.reloadedAt
    return this.waitIdle(slotPort(this.settings, old), quietChecks(since))
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
    await this.host.exec(this.slots.stop(slot, this.settings.app.stopCommand, env), {
      step: `stop ${slot}`,
    })
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

  private nginx(): NginxCommands {
    const { nginx, sudo } = this.settings
    return { test: nginx.testCommand, reload: nginx.reloadCommand, sudo }
  }
}

/** The process manager `process-manager` names, for one host (`user`: its login user). */
function slotManager(settings: Settings, l: Layout, user: string): SlotManager {
  const stopTimeoutSeconds = Math.max(1, Math.ceil(settings.slots.stopTimeoutMs / 1000))
  if (settings.app.processManager === 'builtin') return builtinSlots(l, stopTimeoutSeconds)
  const { name: app, stopCommand } = settings.app
  return systemdSlots(l, { app, user, sudo: settings.sudo, stopCommand, stopTimeoutSeconds })
}
