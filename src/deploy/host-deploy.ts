/**
 * One host's part of a deploy, once its state is read: the per-host steps the strategies share
 * (ship, start, health, nginx switch, drain, stop, record), composed from the parts that own them:
 * state.json and the record (host-state.ts), the slots (slot-ops.ts) and the nginx switch
 * (upstream-switch.ts), all working on the one Target of the run. The strategies decide the order.
 */
import { HostError } from '../common/errors.js'
import { wentLive, type HostPlan } from './plan.js'
import { renderEnvFile, writeEnvFile } from '../remote/commands/files.js'
import { UNKNOWN_CHECKSUM, installRelease, prepareLayout } from '../remote/commands/release.js'
import { SLOT_EXITED, runInRelease } from '../remote/commands/slot.js'
import type { HostState, Slot } from '../remote/state.js'
import type { ReleaseArchive } from '../release/index.js'
import type { HostReport } from '../report/model.js'
import type { Host } from '../ssh/host.js'
import { inputCommands, type HostSession, type Target } from './host-session.js'
import { HostRecord, readState, type LoadedState } from './host-state.js'
import { SlotOps } from './slot-ops.js'
import { UpstreamSwitch, type SwitchExtras } from './upstream-switch.js'
import { recheckError } from './health.js'
import type { SwitchStage } from '../remote/commands/switch.js'

export class HostDeploy {
  /** What this run moves the host to (a rollback or the reload strategy retargets it). */
  readonly target: Target
  readonly record: HostRecord
  readonly slots: SlotOps
  readonly nginx: UpstreamSwitch

  /** Reads the host's state (see readState) and plans its part of the run. */
  static async load(session: HostSession): Promise<HostDeploy> {
    return new HostDeploy(session, await readState(session))
  }

  constructor(
    readonly session: HostSession,
    loaded: LoadedState,
  ) {
    const { settings, version } = session
    this.target = {
      version,
      sha256: '',
      commands: inputCommands(settings),
      plan: loaded.plan,
      pid: null,
    }
    this.record = new HostRecord(session, this.target, loaded.state)
    this.slots = new SlotOps(session, this.target, loaded.manager, (v) => this.record.commandsOf(v))
    this.nginx = new UpstreamSwitch(session, this.target, loaded.files, loaded.siteToInstall)
  }

  get name(): string {
    return this.session.name
  }

  get host(): Host {
    return this.session.host
  }

  get report(): HostReport {
    return this.session.report
  }

  /** What the current step is waiting for, for the log's heartbeat ('' when nothing to say). */
  get progress(): string {
    return this.session.progress
  }

  set progress(text: string) {
    this.session.progress = text
  }

  get version(): string {
    return this.target.version
  }

  get plan(): HostPlan {
    return this.target.plan
  }

  get state(): HostState {
    return this.record.state
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
    const l = this.session.layout
    const { stdout } = await this.host.exec(prepareLayout(l, this.version), { step: 'ship' })
    const existing = stdout.trim()
    this.target.sha256 = archive.sha256
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
    const { env, secretEnv, keepReleases } = this.session.settings.app
    const content = renderEnvFile({ ...env, ...secretEnv })
    if (content === '') return
    await this.host.exec(writeEnvFile(this.session.layout, this.version, keepReleases), {
      step: 'write shared/.env',
      stdin: content,
    })
  }

  /** Runs a one-off command (migrate, post-deploy) from the new release dir with its env. */
  async runInRelease(command: string, step: string): Promise<void> {
    const env = this.slots.env(this.plan.targetSlot)
    await this.host.exec(runInRelease(this.session.layout, command, env), {
      step,
      onLine: this.session.showLine(step),
    })
  }

  async startNewSlot(workdir?: string): Promise<void> {
    await this.slots.start(workdir)
  }

  /** Waits until the new slot is healthy; returns how many checks it took. */
  waitHealthy(): Promise<number> {
    return this.slots.waitHealthy()
  }

  /**
   * Stops the slot this run started: on a failure before the switch, and on every switch back
   * (rolling rollback, canary abort, a failed all-or-nothing switch). When nginx had sent traffic
   * to it and was moved off it, it drains first (bounded by drain-timeout), as the old slot does
   * after a forward switch: requests nginx's old workers still finish there are not cut.
   */
  async stopNewSlot(): Promise<void> {
    const { journal } = this.session
    if (!journal.has('started slot')) return
    const slot = this.plan.targetSlot
    if (this.nginx.newSlotTakenOff) await this.slots.drain(slot, this.nginx.sinceReload())
    await this.slots.stop(slot, this.version)
    journal.clear('started slot')
  }

  /**
   * The switch to the new slot with its record, as one stage of the switch script (see
   * UpstreamSwitch.switch): `all` on a host that switches alone; `install` then `activate` on
   * every host of an all-or-nothing switch. `install` first rechecks that the slot still runs
   * and passes its checks (a warm slot of a rollback was not checked at all); `activate` records
   * the release once requests through nginx reach it.
   */
  async switchToNewSlot(stage: SwitchStage): Promise<void> {
    const [, manager, slot, port, health, version] = this.slots.healthTarget()
    const started = this.session.journal.has('started slot')
    const recheck: SwitchExtras['recheck'] = {
      spec: {
        alive: manager.checkAlive(slot, started),
        port,
        path: health.path,
        versionPath: health.versionPath,
        version,
      },
      error: (exit, detail) =>
        recheckError(
          this.name,
          manager,
          slot,
          port,
          version,
          exit === SLOT_EXITED ? { exited: detail } : { problem: detail },
        ),
      throughTunnel: () => this.slots.recheckHealthy(),
    }
    const record = stage === 'install' ? undefined : this.record.switchRecord()
    const recorded = await this.nginx.switch(stage, slot, undefined, {
      recheck,
      record: record?.record,
    })
    if (record === undefined) return
    if (recorded) this.record.switchRecorded(record.state)
    else await this.record.recordSwitch()
  }

  /** Step 1 of a switch to `slot`: see UpstreamSwitch.install. */
  installUpstream(slot: Slot = this.plan.targetSlot, canaryWeight?: number): Promise<void> {
    return this.nginx.install(slot, canaryWeight)
  }

  /** Step 2 of a switch to `slot`: see UpstreamSwitch.reloadAndVerify. */
  reloadAndVerify(slot: Slot = this.plan.targetSlot, canaryWeight?: number): Promise<void> {
    return this.nginx.reloadAndVerify(slot, canaryWeight)
  }

  /** After a failed switch: see UpstreamSwitch.restore. */
  restoreUpstream(reload: boolean): Promise<void> {
    return this.nginx.restore(reload)
  }

  /** Canary abort: all traffic back on the live slot (the new one keeps running until stopped). */
  backToLiveSlot(): Promise<void> {
    return this.nginx.backToLiveSlot()
  }

  /**
   * Rollback of a switched host while its previous slot still runs (rolling with on-failure
   * rollback): nginx back to the previous slot, previous state and `current`, new slot drained
   * and stopped.
   */
  async switchBack(): Promise<void> {
    if (this.plan.liveSlot === null) {
      throw new HostError(
        this.name,
        'switch back',
        'no previous version to switch back to (first deploy)',
      )
    }
    await this.nginx.backToLiveSlot()
    await this.record.revertRecord()
    await this.stopNewSlot()
    this.session.journal.clear('upstream')
    this.report.outcome = 'reverted'
  }

  recordSwitch(): Promise<void> {
    return this.record.recordSwitch()
  }

  revertRecord(): Promise<void> {
    return this.record.revertRecord()
  }

  /**
   * Waits for the old slot to drain (bounded by drain-timeout). Returns false on timeout. The
   * quiet window counts from this run's nginx reload, which mostly lies behind us by now.
   */
  async drainOldSlot(): Promise<boolean> {
    const old = this.plan.liveSlot
    if (old === null) return true
    return this.slots.drain(old, this.nginx.sinceReload(), 'the old slot')
  }

  /** Waits until no connection to `port` is open any more: see SlotOps.waitIdle. */
  waitIdle(port: number): Promise<boolean> {
    return this.slots.waitIdle(port)
  }

  async stopOldSlot(): Promise<void> {
    const old = this.plan.liveSlot
    if (old === null) return
    await this.slots.stop(old, this.state.slots[old]?.version ?? this.version)
    await this.record.slotStopped(old)
  }

  pruneReleases(): Promise<string[]> {
    return this.record.pruneReleases()
  }
}
