/**
 * A host's workers (`worker-command`): the processes of the live release beside its web slots
 * (or, on a worker host, instead of them), run by the same process manager as the slots. The
 * new release's workers start in the generation (blue or green) the live ones do not use, once
 * the new version is live; the live ones stop after that, in the finish block.
 */
import { errorMessage, HostError } from '../common/errors.js'
import { warning } from '../report/log.js'
import {
  parseWorkers,
  startWorkers,
  stopWorkers,
  WORKERS_FAILED,
} from '../remote/commands/workers.js'
import type { WorkerEnv } from '../remote/commands/slot.js'
import type { Shell } from '../remote/shell.js'
import {
  otherSlot,
  workerId,
  type HostState,
  type ReleaseCommands,
  type Slot,
  type WorkersState,
} from '../remote/state.js'
import type { WorkerOutcome } from '../report/model.js'
import type { HostSession, Target } from './host-session.js'
import { slotManager, type ProcessManager } from './slot-ops.js'

export class WorkerOps {
  constructor(
    private readonly s: HostSession,
    private readonly target: Target,
    private readonly kind: ProcessManager,
    /** state.json as the run last wrote it (the live workers). */
    private readonly state: () => HostState,
    /** The commands recorded with a release in state.json (undefined: none recorded). */
    private readonly recordedCommands: (version: string) => ReleaseCommands | undefined,
  ) {}

  /** The workers that run on the host now, as state.json records them. */
  get live(): WorkersState | null {
    return this.state().workers ?? null
  }

  /** Variables every command of a worker gets, besides shared/.env. */
  env(name: string, version: string, generation: Slot): WorkerEnv {
    const { settings, layout } = this.s
    return {
      WORKER: name,
      APP_VERSION: version,
      RELEASE_DIR: layout.release(version),
      DEPLOY_PATH: layout.root,
      RELEASE_NODE: `${settings.app.name}_${name}_${generation}`,
    }
  }

  /**
   * Starts the target release's workers (its `worker-command`, recorded with it for a rollback)
   * in the generation the live ones do not use, journaled first; they must still run, without a
   * restart, a moment later. When any does not, the started ones stop again and a HostError
   * names each with its log. Sets `target.workers` (null: the release has none).
   */
  async startNew(): Promise<void> {
    const commands = this.target.commands?.workers ?? []
    if (commands.length === 0) {
      this.target.workers = null
      return
    }
    const { version } = this.target
    const generation = this.live ? otherSlot(this.live.generation) : 'blue'
    const workers = { generation, version, names: commands.map((c) => c.name) }
    const manager = this.manager(this.target.commands?.workerStop ?? '')
    this.s.journal.mark({ kind: 'started workers', workers })
    const result = await this.s.host.tryExec(
      startWorkers(
        commands.map(({ name, command }) => {
          const id = workerId(name, generation)
          const env = this.env(name, version, generation)
          return { id, start: manager.start(id, command, env), alive: manager.checkAlive(id, true) }
        }),
      ),
      { step: 'workers' },
    )
    const reports = parseWorkers(result.stdout)
    this.s.report.workers = commands.map(({ name }): WorkerOutcome => {
      const report = reports.find((r) => r.id === workerId(name, generation))
      return { name, version, state: report?.state ?? 'failed' }
    })
    if (result.exitCode === 0) {
      this.target.workers = workers
      return
    }
    this.target.workers = workers
    await this.stopNew().catch((error: unknown) =>
      warning(
        `[${this.s.name}] the workers that came up could not be stopped: ${errorMessage(error)}`,
      ),
    )
    throw new HostError(
      this.s.name,
      'workers',
      result.exitCode === WORKERS_FAILED
        ? reports
            .filter((r) => r.state !== 'up')
            .map((r) => {
              const log = manager.logName(r.id)
              const what = r.state === 'failed' ? 'did not start' : `exited; last lines of ${log}`
              return `${r.id} ${what}:\n${r.detail}`
            })
            .join('\n')
        : `the workers' start failed (exit ${result.exitCode ?? 'none: cut off'}): ${result.stderr.trim()}`,
    )
  }

  /** Stops the workers this run started (a later host failed): the previous ones keep running. */
  async stopNew(): Promise<void> {
    const started = this.target.workers
    if (!started) return
    await this.s.host.exec(this.stopCommand(started), { step: 'workers: stop the new ones' })
    this.target.workers = undefined
    this.s.journal.clear('started workers')
  }

  /**
   * The stop of a generation's workers, all at once, each the way its release stops workers
   * (its recorded worker-stop-command, else SIGTERM), SIGKILL after worker-stop-timeout.
   */
  stopCommand(workers: WorkersState): Shell {
    const own = workers.version === this.target.version ? this.target.commands : undefined
    const commands = own ?? this.recordedCommands(workers.version)
    const stop = commands?.workerStop ?? this.s.settings.workers.stopCommand
    const manager = this.manager(stop)
    return stopWorkers(
      workers.names.map((name) => {
        const id = workerId(name, workers.generation)
        return manager.stop(id, stop, this.env(name, workers.version, workers.generation))
      }),
    )
  }

  /** The process manager of the workers: its stop timeout is worker-stop-timeout. */
  private manager(stopCommand: string) {
    const { settings, layout, host } = this.s
    const { stopTimeoutMs } = settings.workers
    return slotManager(settings, this.kind, layout, host.address.user, stopCommand, stopTimeoutMs)
  }
}
