/**
 * One host's part of a deploy, once its state is read: the per-host steps the strategies share
 * (ship, start, health, nginx switch, drain, stop, record), composed from the parts that own them:
 * state.json and the record (host-state.ts), the slots (slot-ops.ts) and the nginx switch
 * (upstream-switch.ts), all working on the one Target of the run. The strategies decide the order.
 */
import { HostError, RemoteCommandError } from '../common/errors.js'
import type { HostPlan } from './plan.js'
import { shipToHost, type Shipped } from './ship.js'
import type { DrainOutcome } from '../remote/commands/drain.js'
import { finishHost, parseFinish } from '../remote/commands/finish.js'
import { SLOT_EXITED, runInRelease } from '../remote/commands/slot.js'
import type { HostState, Slot } from '../remote/state.js'
import type { ReleaseArchive } from '../release/index.js'
import type { HostReport } from '../report/model.js'
import type { Host } from '../ssh/host.js'
import { inputCommands, type HostSession, type Target } from './host-session.js'
import {
  HostRecord,
  hostHttpClient,
  readState,
  type HostFacts,
  type LoadedState,
} from './host-state.js'
import { SlotOps } from './slot-ops.js'
import { UpstreamSwitch, type SwitchExtras } from './upstream-switch.js'
import { WorkerOps } from './worker-ops.js'
import { AssetBridge } from './assets.js'
import { recheckError } from './health.js'
import type { SwitchStage } from '../remote/commands/switch.js'

export class HostDeploy {
  /** What this run moves the host to (a rollback or the reload strategy retargets it). */
  readonly target: Target
  readonly record: HostRecord
  readonly slots: SlotOps
  readonly nginx: UpstreamSwitch
  /** The release's workers (`worker-command`), on a web host and on a worker host. */
  readonly workers: WorkerOps
  /** The release's asset folders bridged with the kept releases' (`asset-path`). */
  readonly assets: AssetBridge
  /** What the host had as the run started (the release's checksum, releases, HTTP client). */
  readonly facts: HostFacts
  /** The finish block, once drainOldSlot or pruneReleases started it. */
  private finishing: FinishRun | undefined

  /**
   * Takes the deploy lock and reads the host's state in one round trip (see readState), and
   * plans its part of the run. The lock stays held until session.releaseLock().
   */
  static async lockAndLoad(session: HostSession, holder: string): Promise<HostDeploy> {
    return new HostDeploy(session, await readState(session, holder))
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
      assets: settings.app.assetPaths,
      pid: null,
    }
    this.facts = { ...loaded.facts }
    this.record = new HostRecord(session, this.target, loaded.state, loaded.facts.releases)
    const client = hostHttpClient(loaded.facts)
    this.slots = new SlotOps(
      session,
      this.target,
      loaded.manager,
      (v) => this.record.commandsOf(v),
      client,
    )
    this.nginx = new UpstreamSwitch(
      session,
      this.target,
      loaded.files,
      loaded.siteToInstall,
      client,
    )
    this.workers = new WorkerOps(
      session,
      this.target,
      loaded.manager,
      () => this.record.state,
      (v) => this.record.commandsOf(v),
    )
    this.assets = new AssetBridge(session, this.target, () => this.record.state, this.facts)
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

  /** The release the host runs as the run started: its live slot's, or a worker host's workers'. */
  get runningVersion(): string | null {
    if (this.session.role === 'worker') return this.state.workers?.version ?? null
    return this.plan.liveVersion
  }

  get state(): HostState {
    return this.record.state
  }

  /**
   * Whether this host already serves this exact release (same version and checksum): on its
   * live slot, or on a worker host, in its workers.
   */
  isUnchanged(archive: ReleaseArchive): boolean {
    const live = this.state.liveSlot
    const latest = this.state.history[0]
    const running =
      this.session.role === 'worker'
        ? this.state.workers?.version
        : live === null
          ? undefined
          : this.state.slots[live]?.version
    return (
      running === this.version &&
      latest?.version === this.version &&
      latest.sha256 === archive.sha256
    )
  }

  /**
   * Ships the release, bridges its asset folders and writes shared/.env, in one round trip (see
   * shipToHost).
   */
  ship(archive: ReleaseArchive): Promise<Shipped> {
    return shipToHost(this.session, this.target, this.facts, this.state, archive, this.assets)
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
   * and passes its checks (a warm slot of a rollback was not checked at all), then bridges the
   * release's asset folders when the ship did not (a rollback's); `activate` records the release
   * once requests through nginx reach it, unless `record` is false (a watched host: recordSwitch
   * once the watch passed).
   */
  async switchToNewSlot(stage: SwitchStage, record = true): Promise<void> {
    const [, manager, slot, port, health, version] = this.slots.healthTarget()
    const started = this.session.journal.has('started slot')
    const recheck: SwitchExtras['recheck'] = {
      spec: {
        alive: manager.checkAlive(slot, started),
        members: manager.members(slot),
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
    const recorded = stage === 'install' || !record ? undefined : this.record.switchRecord()
    const bridge = stage === 'activate' ? undefined : this.assets.pending()
    const done = await this.nginx.switch(stage, slot, undefined, {
      recheck,
      record: recorded?.record,
      ...(bridge ? { bridge: { script: bridge, took: (out) => this.assets.took(out) } } : {}),
    })
    if (recorded === undefined) return
    if (done) this.record.switchRecorded(recorded.state)
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

  /** The host switched to its new slot in this run, and its previous slot still runs. */
  get canSwitchBack(): boolean {
    const { liveSlot, targetSlot } = this.plan
    return liveSlot !== null && liveSlot !== targetSlot && this.report.outcome === 'deployed'
  }

  /**
   * Back to the previous slot, which still runs, after this host switched (a rolling rollback, a
   * watch that breached, workers that did not start): nginx back on it, the previous state and
   * `current` (when the switch was recorded), the new slot drained and stopped. `served`: the
   * version counts as live from now on (see HostRecord.revertRecord); false when a canary or a
   * watch rejected it.
   */
  async switchBack(served: boolean): Promise<void> {
    if (this.plan.liveSlot === null) {
      throw new HostError(
        this.name,
        'switch back',
        'no previous version to switch back to (first deploy)',
      )
    }
    await this.nginx.backToLiveSlot()
    await this.record.revertRecord(served)
    await this.stopNewSlot()
    this.session.journal.clear('upstream')
    this.report.outcome = 'reverted'
  }

  recordSwitch(): Promise<void> {
    return this.record.recordSwitch()
  }

  /** After a failed switch: see HostRecord.revertRecord. */
  revertRecord(served = false): Promise<void> {
    return this.record.revertRecord(served)
  }

  /**
   * Waits for the old slot to drain (bounded by drain-timeout; on timeout it warns with the
   * connections still open, and the slot is stopped anyway: SlotOps.drained). It starts the
   * finish block (see finish): the quiet window counts from this run's nginx reload, which mostly
   * lies behind us by now.
   */
  async drainOldSlot(): Promise<DrainOutcome> {
    const outcome = await this.finish(true).drained
    const old = this.plan.liveSlot
    return old === null ? outcome : this.slots.drained(old, outcome)
  }

  /** Waits until no connection to `port` is open any more: see SlotOps.waitIdle. */
  waitIdle(port: number): Promise<DrainOutcome> {
    return this.slots.waitIdle(port)
  }

  /** Waits until the finish block has stopped the old slot and written state.json. */
  async stopOldSlot(): Promise<void> {
    await this.finish(true).done
  }

  /**
   * Removes releases beyond keep-releases (never the live or the previous one); returns them.
   * Without drainOldSlot before (keep-previous warm, the reload strategy), the finish block runs
   * now, leaving the old slot as it is.
   */
  pruneReleases(): Promise<string[]> {
    return this.finish(false).done
  }

  /**
   * The end of this host's run in one round trip (finishHost): drain the old slot and stop it
   * (`retireOld`, when there is one), write state.json, remove the pruned releases. Started once;
   * the log's phases (drain, stop-old, record) wait on it in turn.
   */
  private finish(retireOld: boolean): FinishRun {
    this.finishing ??= this.startFinish(retireOld ? this.plan.liveSlot : null)
    return this.finishing
  }

  /**
   * The live workers to stop in the finish block, once state.json names what replaces them: when
   * this run started the release's own (or the release has none). Undefined: nothing to stop.
   */
  private workersToRetire() {
    const live = this.workers.live
    const next = this.target.workers
    if (live === null || next === undefined) return undefined
    return next !== null && next.generation === live.generation ? undefined : live
  }

  private startFinish(old: Slot | null): FinishRun {
    const { layout, journal } = this.session
    const retire = this.workersToRetire()
    if (retire !== undefined) journal.mark({ kind: 'retiring workers', workers: retire })
    const { prune, kept, stateJson, written } = this.record.finish(old)
    const retiring =
      old === null
        ? undefined
        : this.slots.retire(
            old,
            this.state.slots[old]?.version ?? this.version,
            this.nginx.sinceReload(),
          )
    let drainSeen: (outcome: DrainOutcome) => void = () => {}
    const seen = new Promise<DrainOutcome>((resolve) => (drainSeen = resolve))
    const retireWorkers = retire && this.workers.stopCommand(retire)
    const pruneLinks = this.assets.prune(kept)
    const spec = { layout, old: retiring?.spec, stateJson, retireWorkers, prune, pruneLinks }
    const exec = this.host.tryExec(finishHost(spec), {
      step: 'finish',
      onLine: (line) => {
        const f = parseFinish(line)
        if (f.drain === 'unknown') retiring?.onLine(line)
        else drainSeen(drainOutcome(f))
      },
    })
    const done = exec.then(({ stdout, exitCode, stderr }) => {
      const f = parseFinish(stdout)
      if (!f.ok) {
        const step = f.drain === 'unknown' ? 'drain' : finishStep(f.failedStep, old)
        throw new RemoteCommandError(this.name, step, exitCode, stderr)
      }
      written()
      this.assets.pruned(stdout)
      journal.clear('started workers')
      journal.clear('retiring workers')
      return prune
    })
    const reported = exec.then(({ stdout, exitCode, stderr }) => {
      const f = parseFinish(stdout)
      if (f.drain === 'unknown') throw new RemoteCommandError(this.name, 'drain', exitCode, stderr)
      return drainOutcome(f)
    })
    const drained = Promise.race([seen, reported])
    // Each phase awaits its part; a failure is thrown there, the rest need no handler.
    drained.catch(() => {})
    done.catch(() => {})
    return { drained, done }
  }
}

/** The drain of a finish block's output: idle unless it reached drain-timeout. */
function drainOutcome(f: ReturnType<typeof parseFinish>): DrainOutcome {
  return f.drain === 'timeout' ? { idle: false, open: f.openAtTimeout } : { idle: true, open: 0 }
}

/** The finish block of a host as the log's phases wait on it. */
interface FinishRun {
  /** How the old slot's drain ended (idle without an old slot). */
  drained: Promise<DrainOutcome>
  /** The releases it removed, once all of it is done. */
  done: Promise<string[]>
}

/** The step a failure of the finish block names, as the separate commands named it before. */
function finishStep(failed: string | undefined, old: Slot | null): string {
  if (failed === 'state') return 'write state'
  if (failed === 'prune') return 'prune'
  if (failed === 'workers') return 'stop old workers'
  if (failed === 'links') return 'prune asset links'
  return old === null ? 'finish' : `stop ${old}`
}
