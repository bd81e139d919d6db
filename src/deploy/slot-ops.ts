/**
 * A host's two slots: start, stop, reload, drain and health-check them through the process
 * manager (the built-in one or systemd units), with the environment the commands get.
 */
import { HostError } from '../common/errors.js'
import type { Settings } from '../inputs/settings.js'
import { formatDuration, warning } from '../report/log.js'
import { slotPort } from './plan.js'
import {
  DRAIN_TIMED_OUT,
  drainProgress,
  quietChecks,
  waitForDrain,
} from '../remote/commands/drain.js'
import { builtinSlots, type SlotEnv, type SlotManager } from '../remote/commands/slot.js'
import { systemdSlots } from '../remote/commands/systemd.js'
import type { Layout } from '../remote/layout.js'
import type { ReleaseCommands, Slot } from '../remote/state.js'
import { recheckHealthy, waitHealthy } from './health.js'
import type { HostSession, Target } from './host-session.js'

export type ProcessManager = 'builtin' | 'systemd'

export class SlotOps {
  /** Starts, stops and watches the slots (a rollback may give it the release's stop-command). */
  private manager: SlotManager

  constructor(
    private readonly s: HostSession,
    private readonly target: Target,
    private readonly kind: ProcessManager,
    /** The commands recorded with a release in state.json (undefined: none recorded). */
    private readonly recordedCommands: (version: string) => ReleaseCommands | undefined,
  ) {
    this.manager = slotManager(s.settings, kind, s.layout, s.host.address.user)
  }

  /** A systemd unit keeps the stop-command it was started with: the release's, for a rollback. */
  useStopCommand(stopCommand: string): void {
    const { settings, layout, host } = this.s
    this.manager = slotManager(settings, this.kind, layout, host.address.user, stopCommand)
  }

  /** Variables the commands of a slot get (start, stop, migrations). */
  env(slot: Slot, version = this.target.version): SlotEnv {
    const { settings, layout } = this.s
    return {
      PORT: String(slotPort(settings, slot)),
      SLOT: slot,
      APP_VERSION: version,
      RELEASE_DIR: layout.release(version),
      DEPLOY_PATH: layout.root,
      RELEASE_NODE: `${settings.app.name}_${slot}`,
    }
  }

  async running(slot: Slot, step: string): Promise<boolean> {
    return (await this.s.host.tryExec(this.manager.checkAlive(slot), { step })).exitCode === 0
  }

  /** Starts the target release on the target slot (journaled first: the post step stops it). */
  async start(workdir?: string): Promise<void> {
    const slot = this.target.plan.targetSlot
    this.s.journal.mark({ kind: 'started slot', slot })
    const start = this.target.commands?.start ?? this.s.settings.app.startCommand
    const { stdout } = await this.s.host.exec(
      this.manager.start(slot, start, this.env(slot), workdir),
      { step: `start ${slot}` },
    )
    this.target.pid = Number(stdout.trim().split('\n').pop())
  }

  async stop(slot: Slot, version: string): Promise<void> {
    const env = {
      ...this.env(slot),
      APP_VERSION: version,
      RELEASE_DIR: this.s.layout.release(version),
    }
    await this.s.host.exec(this.manager.stop(slot, this.stopCommandOf(version), env), {
      step: `stop ${slot}`,
    })
  }

  /** reload-command in a running slot (strategy reload), on `version`. */
  async reload(slot: Slot = this.target.plan.targetSlot, version = this.target.version) {
    await this.s.host.exec(
      this.manager.reload(slot, this.s.settings.app.reloadCommand, this.env(slot, version)),
      { step: 'reload: reload-command' },
    )
  }

  /**
   * The stop-command of a release: this run's for its own release, else the one recorded when
   * that release was deployed (a slot stops the way it was started), else the input.
   */
  private stopCommandOf(version: string): string {
    const { version: target, commands } = this.target
    if (version === target && commands !== undefined) return commands.stop
    return this.recordedCommands(version)?.stop ?? this.s.settings.app.stopCommand
  }

  /**
   * Every drain of a slot nginx was moved off (forward switch, switch back, post-step repair):
   * waits until the requests nginx's old workers still finish on it are done, bounded by
   * drain-timeout, the quiet window counting from this run's last nginx reload (`sinceReloadMs`,
   * 0: none). On timeout it warns (the slot is stopped anyway) and returns false.
   */
  async drain(slot: Slot, sinceReloadMs: number, what = `the ${slot} slot`): Promise<boolean> {
    const idle = await this.waitIdle(slotPort(this.s.settings, slot), quietChecks(sinceReloadMs))
    if (!idle) {
      warning(
        `[${this.s.name}] ${what} still had connections after drain-timeout; stopping it anyway`,
      )
    }
    return idle
  }

  /**
   * Waits until no connection to `port` is open any more (in-flight requests finished), bounded
   * by drain-timeout. Returns false on timeout.
   */
  async waitIdle(port: number, quiet = quietChecks()): Promise<boolean> {
    const timeoutMs = this.s.settings.slots.drainTimeoutMs
    if (timeoutMs === 0) return true
    const started = Date.now()
    const result = await this.s.host.tryExec(waitForDrain(port, timeoutMs, quiet), {
      step: 'drain',
      onLine: (line) => {
        const open = drainProgress(line)
        if (open === undefined) return
        const waited = formatDuration(Date.now() - started)
        this.s.progress = `${open} connection(s) to port ${port} left after ${waited} (drain-timeout ${formatDuration(timeoutMs)})`
      },
    })
    if (result.exitCode === 0) return true
    if (result.exitCode === DRAIN_TIMED_OUT) return false
    throw new HostError(
      this.s.name,
      'drain',
      `drain check failed (exit ${result.exitCode}): ${result.stderr}`,
    )
  }

  /** Waits until the new slot is healthy; returns how many checks it took. */
  async waitHealthy(): Promise<number> {
    const started = Date.now()
    return waitHealthy(...this.healthTarget(), (attempt, problem) => {
      const left = this.s.settings.health.timeoutMs - (Date.now() - started)
      this.s.progress = `attempt ${attempt}, last answer: ${problem} (${formatDuration(left)} left)`
    })
  }

  /** Right before the switch: the target slot still runs and passes its checks. */
  async recheckHealthy(): Promise<void> {
    await recheckHealthy(...this.healthTarget(), this.s.journal.has('started slot'))
  }

  /** The arguments of the health checks of the target slot (health.ts). */
  healthTarget() {
    const { targetSlot, targetPort } = this.target.plan
    const { host, settings } = this.s
    return [
      host,
      this.manager,
      targetSlot,
      targetPort,
      settings.health,
      this.target.version,
    ] as const
  }
}

/**
 * The process manager for one host (`user`: its login user). A systemd unit keeps the
 * `stopCommand` it was started with.
 */
export function slotManager(
  settings: Settings,
  manager: ProcessManager,
  l: Layout,
  user: string,
  stopCommand = settings.app.stopCommand,
): SlotManager {
  const stopTimeoutSeconds = Math.max(1, Math.ceil(settings.slots.stopTimeoutMs / 1000))
  if (manager === 'builtin') return builtinSlots(l, stopTimeoutSeconds)
  const { name: app } = settings.app
  return systemdSlots(l, { app, user, sudo: settings.sudo, stopCommand, stopTimeoutSeconds })
}
