/**
 * A host's two slots: start, stop, reload, drain and health-check them through the process
 * manager (the built-in one or systemd units), with the environment the commands get.
 */
import { HostError, RemoteCommandError } from '../common/errors.js'
import type { Settings } from '../inputs/settings.js'
import { formatDuration, warning } from '../report/log.js'
import { slotPort } from './plan.js'
import {
  drainProgress,
  parseDrain,
  quietChecks,
  waitForDrain,
  type DrainOutcome,
} from '../remote/commands/drain.js'
import { healthLoopProgress, startThenHealth, startedPid } from '../remote/commands/health-loop.js'
import type { HttpClientChoice } from '../remote/commands/http.js'
import { parsePortUsers, PORT_IN_USE, portTakenProblem } from '../remote/commands/processes.js'
import { builtinSlots, type SlotEnv, type SlotManager } from '../remote/commands/slot.js'
import { systemdSlots } from '../remote/commands/systemd.js'
import type { Layout } from '../remote/layout.js'
import type { Shell } from '../remote/shell.js'
import type { ReleaseCommands, Slot } from '../remote/state.js'
import type { ExecResult } from '../ssh/host.js'
import { healthLoopChecks, hostHealthLoop, recheckHealthy, waitHealthy } from './health.js'
import type { HostSession, Target } from './host-session.js'

export type ProcessManager = 'builtin' | 'systemd'

export class SlotOps {
  /** Starts, stops and watches the slots (a rollback may give it the release's stop-command). */
  private manager: SlotManager
  /** The health loop start left running on the host, until waitHealthy takes its report. */
  private booting: Promise<number> | undefined

  constructor(
    private readonly s: HostSession,
    private readonly target: Target,
    private readonly kind: ProcessManager,
    /** The commands recorded with a release in state.json (undefined: none recorded). */
    private readonly recordedCommands: (version: string) => ReleaseCommands | undefined,
    /** The host's HTTP client for the health loop (prepare block; none: through the tunnel). */
    private readonly httpClient: HttpClientChoice = 'auto',
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

  /**
   * Starts the target release on the target slot (journaled first: the post step stops it) and,
   * in the same round trip, the health loop on the host (startThenHealth). Returns once the slot
   * started; waitHealthy then waits for the loop's report.
   */
  async start(workdir?: string): Promise<void> {
    const slot = this.target.plan.targetSlot
    this.s.journal.mark({ kind: 'started slot', slot })
    this.target.workdir = workdir
    const start = this.target.commands?.start ?? this.s.settings.app.startCommand
    const step = `start ${slot}`
    let started: (pid: number) => void = () => {}
    const seen = new Promise<number>((resolve) => (started = resolve))
    let since = Date.now()
    const exec = this.s.host.tryExec(
      startThenHealth(this.manager.start(slot, start, this.env(slot), workdir), this.healthLoop()),
      {
        step,
        onLine: (line) => {
          const pid = startedPid(line)
          if (pid !== undefined) {
            since = Date.now()
            return started(pid)
          }
          const [stopped] = parsePortUsers(line).filter((u) => u.kind === 'stopped')
          if (stopped === undefined) return this.healthProgress(line, since)
          warning(
            `[${this.s.name}] ${slot}-port ${stopped.port} was held by a leftover of this app, now stopped: ${stopped.who}`,
          )
        },
      },
    )
    const pid = exec.then(({ stdout, exitCode, stderr }) => {
      const found = stdout
        .split('\n')
        .map(startedPid)
        .find((p) => p !== undefined)
      if (found !== undefined) return found
      const taken =
        exitCode === PORT_IN_USE && portTakenProblem(parsePortUsers(stdout), `${slot}-port`)
      if (taken) throw new HostError(this.s.name, step, `${taken} Nothing was switched.`)
      throw new RemoteCommandError(this.s.name, step, exitCode, stderr)
    })
    const booting = pid.then(() => exec).then((result) => this.healthOf(result))
    // waitHealthy awaits it; when the start itself fails, that error is thrown here.
    booting.catch(() => {})
    this.booting = booting
    this.target.pid = await Promise.race([seen, pid])
  }

  /** The stop of a slot running `version` (its env, the stop-command it was started with). */
  stopCommand(slot: Slot, version: string): Shell {
    const env = {
      ...this.env(slot),
      APP_VERSION: version,
      RELEASE_DIR: this.s.layout.release(version),
    }
    return this.manager.stop(slot, this.stopCommandOf(version), env)
  }

  async stop(slot: Slot, version: string): Promise<void> {
    await this.s.host.exec(this.stopCommand(slot, version), { step: `stop ${slot}` })
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
   * The drain of a slot nginx was moved off on a switch back or in the post step's repair (the
   * forward switch drains the old slot in the finish block: see retire): waits until the requests
   * nginx's old workers still finish on it are done, bounded by drain-timeout, the quiet window
   * counting from this run's last nginx reload (`sinceReloadMs`, 0: none). On timeout it warns
   * (the slot is stopped anyway: see drained).
   */
  async drain(slot: Slot, sinceReloadMs: number): Promise<DrainOutcome> {
    const port = slotPort(this.s.settings, slot)
    return this.drained(slot, await this.waitIdle(port, quietChecks(sinceReloadMs)))
  }

  /**
   * The end of a slot's drain: on drain-timeout, the warning with the connections still open and
   * the same count in the host's report (the job summary). Returns the outcome.
   */
  drained(slot: Slot, outcome: DrainOutcome): DrainOutcome {
    if (outcome.idle) return outcome
    const { name, settings, report } = this.s
    report.openAfterDrain = outcome.open
    const timeout = formatDuration(settings.slots.drainTimeoutMs)
    warning(
      `[${name}] the ${slot} slot still had ${outcome.open} connection(s) open after drain-timeout (${timeout}); stopping it anyway (a websocket stays open until the app closes it: README "Websockets")`,
    )
    return outcome
  }

  /**
   * Waits until no connection to `port` is open any more (in-flight requests finished), bounded
   * by drain-timeout.
   */
  async waitIdle(port: number, quiet = quietChecks()): Promise<DrainOutcome> {
    const timeoutMs = this.s.settings.slots.drainTimeoutMs
    if (timeoutMs === 0) return { idle: true, open: 0 }
    const result = await this.s.host.tryExec(waitForDrain(port, timeoutMs, quiet), {
      step: 'drain',
      onLine: this.drainProgress(port),
    })
    const outcome = parseDrain(result.exitCode, result.stdout)
    if (outcome) return outcome
    throw new HostError(
      this.s.name,
      'drain',
      `drain check failed (exit ${result.exitCode}): ${result.stderr}`,
    )
  }

  /**
   * The old slot's part of the finish block (finishHost): drained as drain() drains (the quiet
   * window counting from the last reload, `sinceReloadMs` ago), then stopped the way it was
   * started; `onLine` shows the connections left in the log's heartbeat.
   */
  retire(slot: Slot, version: string, sinceReloadMs: number) {
    const port = slotPort(this.s.settings, slot)
    const { drainTimeoutMs } = this.s.settings.slots
    return {
      spec: {
        port,
        drainTimeoutMs,
        quietChecks: quietChecks(sinceReloadMs),
        stop: this.stopCommand(slot, version),
      },
      onLine: this.drainProgress(port),
    }
  }

  /** Reads the `open <n>` lines of a drain loop into the log's heartbeat. */
  private drainProgress(port: number): (line: string) => void {
    const started = Date.now()
    const timeout = formatDuration(this.s.settings.slots.drainTimeoutMs)
    return (line) => {
      const open = drainProgress(line)
      if (open === undefined) return
      const waited = formatDuration(Date.now() - started)
      this.s.progress = `${open} connection(s) to port ${port} left after ${waited} (drain-timeout ${timeout})`
    }
  }

  /**
   * Waits until the new slot is healthy; returns how many checks it took. After start, the loop
   * already runs on the host; otherwise (a slot reloaded in place) it runs now. On a host with
   * neither curl nor wget, the checks go through the SSH tunnel.
   */
  async waitHealthy(): Promise<number> {
    const booting = this.booting
    this.booting = undefined
    if (booting !== undefined) return booting
    const since = Date.now()
    const result = await this.s.host.tryExec(this.healthLoop(), {
      step: 'health',
      onLine: (line) => this.healthProgress(line, since),
    })
    return this.healthOf(result)
  }

  /** The health loop on the host for the target slot (health.ts). */
  private healthLoop(): Shell {
    const [, manager, slot, port, health, version] = this.healthTarget()
    const started = this.s.journal.has('started slot')
    return hostHealthLoop(manager, slot, port, health, version, this.httpClient, started)
  }

  /** The checks the loop took; throws when the slot is not healthy (see healthLoopChecks). */
  private async healthOf(result: ExecResult): Promise<number> {
    const [host, manager, slot, port, health] = this.healthTarget()
    const checks = healthLoopChecks(host, manager, slot, port, health, result)
    if (checks !== 'no-client') return checks
    const started = Date.now()
    return waitHealthy(
      ...this.healthTarget(),
      (attempt, problem) => this.attemptProgress(attempt, problem, started),
      this.s.journal.has('started slot'),
    )
  }

  /** A progress line of the health loop, for the log's heartbeat. */
  private healthProgress(line: string, since: number): void {
    const progress = healthLoopProgress(line)
    if (progress) this.attemptProgress(progress.attempt, progress.last, since)
  }

  private attemptProgress(attempt: number, problem: string, since: number): void {
    const left = this.s.settings.health.timeoutMs - (Date.now() - since)
    this.s.progress = `attempt ${attempt}, last answer: ${problem} (${formatDuration(left)} left)`
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
 * The process manager for one host (`user`: its login user), of its slots (or, with
 * worker-stop-command and worker-stop-timeout, of its workers). A systemd unit keeps the
 * `stopCommand` it was started with.
 */
export function slotManager(
  settings: Settings,
  manager: ProcessManager,
  l: Layout,
  user: string,
  stopCommand = settings.app.stopCommand,
  /** worker-stop-timeout for the workers' manager. */
  stopTimeoutMs = settings.slots.stopTimeoutMs,
): SlotManager {
  const stopTimeoutSeconds = Math.max(1, Math.ceil(stopTimeoutMs / 1000))
  const options = { app: settings.app.name, sudo: settings.sudo, stopTimeoutSeconds }
  if (manager === 'builtin') return builtinSlots(l, options)
  return systemdSlots(l, { ...options, user, stopCommand })
}
