/**
 * One host of the run before its state is read: the connection, the settings, the run's journal
 * of the host, its report and the deploy lock. `HostDeploy.lockAndLoad` takes the lock, reads the
 * host's state and gives the HostDeploy the strategies work with.
 */
import type { Settings } from '../inputs/settings.js'
import { info } from '../report/log.js'
import type { HostPlan } from './plan.js'
import { emptyHostReport, type HostReport, type HostRole } from '../report/model.js'
import { layout, type Layout } from '../remote/layout.js'
import type { ReleaseCommands, WorkersState } from '../remote/state.js'
import type { Host } from '../ssh/host.js'
import type { HostJournal, Journal } from './journal.js'
import { holdLocked, lockWaitSeconds, type HeldLock } from './lock.js'
import { parsePrepared, prepareHost, type Prepared } from '../remote/commands/prepare.js'
import type { Shell } from '../remote/shell.js'

export class HostSession {
  readonly layout: Layout
  /**
   * What this run changed on the host (a slot started, the upstream or site file written,
   * `current` moved, the switch recorded): what a failure undoes, saved for the post step.
   */
  readonly journal: HostJournal
  readonly report: HostReport
  /** What the current step is waiting for, for the log's heartbeat ('' when nothing to say). */
  progress = ''
  private lock: HeldLock | undefined

  constructor(
    readonly host: Host,
    readonly settings: Settings,
    journal: Journal,
    /** The version this run moves the host to (a rollback retargets it from the history). */
    readonly version: string,
    /** A web host (`hosts`: slots, nginx, workers), or a worker host (`worker-hosts`: workers). */
    readonly role: HostRole = 'web',
  ) {
    this.layout = layout(settings.app.deployPath)
    this.journal = journal.of(host.name)
    this.report = emptyHostReport(host.name, role)
  }

  get name(): string {
    return this.host.name
  }

  /**
   * Takes the deploy lock and, under it, prepares the layout (what an interrupted run left is
   * removed, the directories exist) and reads `files` and the output of the read-only `extras`,
   * all in one round trip (the prepare block). The lock stays held until releaseLock.
   */
  async lockAndPrepare(holder: string, files: string[], extras: Shell[]): Promise<Prepared> {
    const { layout: l, settings } = this
    const held = await holdLocked(
      this.host,
      prepareHost({
        layout: l,
        waitSeconds: lockWaitSeconds(settings.lockTimeoutMs),
        holder,
        version: this.version,
        files,
        extras,
      }),
      l,
      settings.lockTimeoutMs,
      (stdout) => parsePrepared(stdout, files.length, extras.length),
    )
    this.lock = held
    return held.value
  }

  async releaseLock(): Promise<void> {
    await this.lock?.release()
    this.lock = undefined
  }

  /** Output of the operator's own commands (migrate, canary check) is shown as it comes. */
  showLine(step: string): (line: string) => void {
    return (line) => info(`[${this.name}] ${step}: ${line}`)
  }
}

/**
 * What this run moves the host to, shared by the parts of a HostDeploy (record, slots, upstream
 * switch). A rollback and the reload strategy retarget it before anything starts.
 */
export interface Target {
  version: string
  /** Checksum of the release, for the history. */
  sha256: string
  /**
   * The commands of the release: the inputs for a deploy; for a rollback the ones recorded with
   * that release (undefined: recorded before commands were, and no start-command given).
   */
  commands: ReleaseCommands | undefined
  plan: HostPlan
  /**
   * The release's asset folders (asset-path; for a rollback the ones recorded with the release,
   * else the input): their files stay served across versions. Empty: none.
   */
  assets: string[]
  /** The app process on the new slot (started by this run, or the warm one of a rollback). */
  pid: number | null
  /**
   * Where the new slot runs from when not its release dir (`current`, for the reload strategy),
   * recorded with the slot in state.json; undefined: releases/<version>.
   */
  workdir?: string
  /**
   * The release's workers once this run started them (null: the release has none, so the live
   * ones just stop); undefined until the run reached its workers.
   */
  workers?: WorkersState | null
}

/** The commands the inputs give, as recorded with a release in state.json. */
export function inputCommands(settings: Settings): ReleaseCommands {
  const { startCommand: start, stopCommand: stop, reloadCommand: reload } = settings.app
  const { commands: workers, stopCommand: workerStop } = settings.workers
  return {
    start,
    stop,
    reload,
    ...(workers.length > 0 ? { workers, workerStop } : {}),
  }
}
