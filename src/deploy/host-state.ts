/**
 * A host's state.json: reading it at the start, under the deploy lock taken in the same round trip
 * (with the checks that refuse a host the run must not touch), and the record of the run in it
 * (the switch, its revert, a stopped slot, pruning).
 */
import { HostError, errorMessage } from '../common/errors.js'
import { debug, info, warning } from '../report/log.js'
import { planHost, releasesToPrune, wentLive, type HostPlan } from './plan.js'
import { recordRelease, switchCurrent, writeStateFile } from '../remote/commands/files.js'
import {
  detectProcessManager,
  parseProcessManagerFacts,
  resolveProcessManager,
} from '../remote/commands/process-manager.js'
import type { Settings } from '../inputs/settings.js'
import type { Layout } from '../remote/layout.js'
import type { SwitchSpec } from '../remote/commands/switch.js'
import { cmd, type Shell } from '../remote/shell.js'
import { parseHttpClient, type HttpClientChoice } from '../remote/commands/http.js'
import { parseState, type HostState, type ReleaseCommands, type Slot } from '../remote/state.js'
import type { HostSession, Target } from './host-session.js'
import type { HostRole } from '../report/model.js'
import { slotManager, type ProcessManager } from './slot-ops.js'
import { nginxFiles, renderedSite, type NginxFiles } from './upstream-switch.js'

/** What the prepare block found on a host besides state.json and the nginx files. */
export interface HostFacts {
  /** The checksum of this version's release on the host ('' absent, `unknown`: not ours). */
  existing: string
  /** The release directories on the host, as the run started. */
  releases: string[]
  /** The HTTP client the host's loops can use (curl, wget, none; '' when not read). */
  httpClient: string
  /**
   * A rollback's question, answered in the same round trip: which slots' processes were running
   * when the run took the lock (a warm slot is used as it is; the switch rechecks it).
   */
  running?: Record<Slot, boolean>
}

/** The client the host's scripts are told to use: the one the prepare block found, else `auto`. */
export function hostHttpClient(facts: HostFacts): HttpClientChoice {
  return facts.httpClient === '' ? 'auto' : parseHttpClient(facts.httpClient)
}

const NO_FACTS: HostFacts = { existing: '', releases: [], httpClient: '' }

/** What readState found on a host: what the rest of the run works from. */
export interface LoadedState {
  state: HostState
  plan: HostPlan
  manager: ProcessManager
  /** The app's upstream include and the managed site, checked against what the host has. */
  files: NginxFiles
  /** The managed site differs from the host's: the next upstream install writes it too. */
  siteToInstall: boolean
  facts: HostFacts
}

/**
 * Takes the deploy lock and reads the host in the same round trip (HostSession.lockAndPrepare:
 * state.json, the upstream and site files, process-manager detection, restarts of the slots),
 * then plans this host's part; refuses a corrupt state, a hand-edited upstream or managed site,
 * or a site file the action did not write. Resolves process-manager auto first, and reports
 * restarts of the live slot since its start. The lock stays held (HostSession.releaseLock).
 */
export async function readState(s: HostSession, holder: string): Promise<LoadedState> {
  const { settings, layout } = s
  const request = prepareRequest(settings, layout, s.host.address.user, s.role)
  const prepared = await s.lockAndPrepare(holder, request.files, request.extras)
  const chosen = settings.app.processManager
  const [detected, ...perSlot] =
    chosen === 'auto' ? prepared.extras : [undefined, ...prepared.extras]
  const manager = chosen === 'auto' ? resolveManager(s, detected?.stdout ?? '') : chosen
  // Per manager asked: the restarts of blue and green, then (rollback) whether each runs.
  const at = request.managers.indexOf(manager) * request.perManager
  const [restartsBlue, restartsGreen, aliveBlue, aliveGreen] = perSlot.slice(at, at + 4)
  const [text = '', upstream = '', siteFile = ''] = prepared.files
  text.split('\n').forEach((line) => debug(`[${s.name}] read state: ${line}`))
  let state: HostState
  try {
    state = parseState(text === '' ? undefined : text, layout.state)
  } catch (error) {
    throw new HostError(s.name, 'read state', errorMessage(error))
  }
  if (state.liveSlot !== null) {
    const restarts = state.liveSlot === 'blue' ? restartsBlue : restartsGreen
    reportRestarts(s, state, manager, restarts?.stdout ?? '')
  }
  const { existing, releases, httpClient } = prepared
  const running =
    aliveBlue && aliveGreen
      ? { blue: aliveBlue.exitCode === 0, green: aliveGreen.exitCode === 0 }
      : undefined
  const loaded = stateLoaded(s, state, manager, { existing, releases, httpClient, running })
  s.report.previousSlot = s.report.liveSlot = loaded.plan.liveSlot
  s.report.previousVersion = s.report.liveVersion = loaded.plan.liveVersion
  // A worker host has no slots and no nginx: what it runs is its workers' release.
  if (s.role === 'worker') {
    s.report.previousVersion = s.report.liveVersion = state.workers?.version ?? null
    return loaded
  }
  // With `nginx-site`: whether the site file must be written in this run. A file the action did
  // not write is never overwritten (not even with force); one it wrote and someone edited since
  // is overwritten only with force.
  const rendered = renderedSite(settings)
  if (rendered !== undefined) {
    loaded.files.site.check(siteFile, settings.force)
    loaded.siteToInstall = siteFile !== rendered
  }
  loaded.files.upstream.check(upstream, settings.force)
  return loaded
}

/**
 * What readState asks the prepare block for: state.json, the upstream file and the managed site;
 * with process-manager auto the detection first; then per manager (both with auto: which one
 * applies is known only from the detection) the restart counts of both slots and, for a
 * rollback, whether each slot runs (startUnlessWarm). All read-only.
 */
export function prepareRequest(
  settings: Settings,
  l: Layout,
  user: string,
  role: HostRole = 'web',
): { files: string[]; extras: Shell[]; managers: ProcessManager[]; perManager: number } {
  const { site, app } = settings
  // A worker host's nginx (if any) is not the action's: its files are not read.
  const paths = role === 'worker' ? [l.state] : [l.state, settings.nginx.upstreamFile]
  const chosen = app.processManager
  const managers: ProcessManager[] = chosen === 'auto' ? ['builtin', 'systemd'] : [chosen]
  const perSlot = managers.flatMap((m) => {
    const slots = slotManager(settings, m, l, user)
    const restarts = [slots.restarts('blue'), slots.restarts('green')]
    if (!settings.rollback.enabled) return restarts
    return [...restarts, slots.checkAlive('blue'), slots.checkAlive('green')]
  })
  return {
    files: site.serverNames.length > 0 && role === 'web' ? [...paths, site.file] : paths,
    extras:
      chosen === 'auto' ? [detectProcessManager(app.name, settings.sudo), ...perSlot] : perSlot,
    managers,
    perManager: settings.rollback.enabled ? 4 : 2,
  }
}

/** The run's start from `state` as read (or, in tests, as given): the plan and the nginx files. */
export function stateLoaded(
  s: HostSession,
  state: HostState,
  manager: ProcessManager,
  facts: HostFacts = NO_FACTS,
): LoadedState {
  const plan = planHost(s.settings, s.name, state, s.version)
  return { state, plan, manager, files: nginxFiles(s), siteToInstall: false, facts }
}

/** process-manager auto: systemd units or the built-in manager, as this host allows. */
function resolveManager(s: HostSession, detected: string): ProcessManager {
  const { name: app } = s.settings.app
  const resolved = resolveProcessManager(
    parseProcessManagerFacts(detected),
    app,
    s.host.address.user,
  )
  if (resolved.manager === 'error') {
    throw new HostError(s.name, 'process manager', resolved.reason)
  }
  info(`[${s.name}] process-manager auto: ${resolved.manager} (${resolved.reason})`)
  return resolved.manager
}

/**
 * The live slot's app was restarted by the process manager since the action started it (a
 * crash, the OOM killer): a warning in this run's output, with where to look. `restarts`: what
 * the manager's `restarts` command printed for the live slot.
 */
function reportRestarts(
  s: HostSession,
  state: HostState,
  manager: ProcessManager,
  restarts: string,
): void {
  const live = state.liveSlot
  if (live === null) return
  const [count = '', when = '', ...why] = restarts.trim().split(/\s+/)
  if (!/^[1-9]\d*$/.test(count)) return
  const slots = slotManager(s.settings, manager, s.layout, s.host.address.user)
  const last = when ? `; last at ${when}: the app ${why.join(' ')}` : ''
  warning(
    `[${s.name}] the live ${live} slot (${state.slots[live]?.version ?? 'unknown version'}) was restarted ${count} time(s) by the process manager since it was started${last}. See ${slots.logName(live)}.`,
  )
}

/** state.json as this run changes it: the switch recorded (or reverted), slots stopped, pruning. */
export class HostRecord {
  private readonly before: HostState

  constructor(
    private readonly s: HostSession,
    private readonly target: Target,
    /** The state as this run last wrote it (as read, until it writes). */
    public state: HostState,
    /** The release directories on the host when the run read its state (for pruning). */
    private readonly releases: string[] = [],
  ) {
    this.before = state
  }

  /** The commands recorded with `version` in the history. */
  commandsOf(version: string): ReleaseCommands | undefined {
    return this.state.history.find((r) => r.version === version)?.commands
  }

  /** After the switch: `current` and state.json name the new release; the old slot is still up. */
  async recordSwitch(): Promise<void> {
    const state = this.switchedState()
    await this.s.host.exec(recordRelease(this.s.layout, this.target.version), {
      step: 'record',
      stdin: stateText(state),
    })
    this.switchRecorded(state)
  }

  /**
   * What the switch script records (with the switch, in the same exec): state.json as
   * switchedState gives it, and `current`; switchRecorded once it did.
   */
  switchRecord(): { state: HostState; record: SwitchSpec['record'] } {
    const state = this.switchedState()
    const record = {
      layout: this.s.layout,
      version: this.target.version,
      stateJson: stateText(state),
    }
    return { state, record }
  }

  /** state.json once the new slot is live. */
  private switchedState(): HostState {
    const { version, sha256, commands, assets, plan, pid, workdir } = this.target
    const slot = plan.targetSlot
    const now = new Date().toISOString()
    return {
      ...this.state,
      liveSlot: slot,
      slots: {
        ...this.state.slots,
        [slot]: {
          version,
          port: plan.targetPort,
          pid,
          startedAt: now,
          ...(workdir === undefined ? {} : { workdir }),
        },
      },
      history: [
        {
          version,
          sha256,
          slot,
          deployedAt: now,
          ...(commands === undefined ? {} : { commands }),
          ...(assets.length === 0 ? {} : { assets }),
        },
        ...this.state.history.filter((r) => r.version !== version),
      ],
    }
  }

  /** The host has `state` (switchedState) in state.json, and `current` names the release. */
  switchRecorded(state: HostState): void {
    this.state = state
    this.s.journal.mark({ kind: 'recorded' })
    this.s.report.outcome = 'deployed'
    this.s.report.liveSlot = this.target.plan.targetSlot
    this.s.report.liveVersion = this.target.version
  }

  /**
   * Undoes the record of the switch (a failed switch, a switch back): the previous state and
   * `current` come back. `served`: the version served traffic and was switched back for another
   * reason than a verdict on it, so it counts as live (never changes: switchedBack).
   */
  async revertRecord(served = false): Promise<void> {
    if (this.state === this.before) return
    const { version } = this.target
    const before = this.before
    this.state =
      served && !wentLive(before, version)
        ? { ...before, switchedBack: [...(before.switchedBack ?? []), version] }
        : before
    this.s.journal.clear('recorded')
    await this.write()
    const { liveSlot, liveVersion } = this.target.plan
    await this.s.host.exec(
      liveVersion === null
        ? cmd('rm', '-f', this.s.layout.current)
        : switchCurrent(this.s.layout, liveVersion),
      { step: 'revert current' },
    )
    this.s.report.outcome = 'failed'
    this.s.report.liveSlot = liveSlot
    this.s.report.liveVersion = liveVersion
  }

  /**
   * The end of the run on this host (HostDeploy's finish block): the releases beyond
   * keep-releases to remove (never the live or the previous one), and state.json as it is once
   * `stopped` (the old slot, or null) has stopped and those releases are gone: the slot's pid
   * cleared, their history entries removed (a pruned release can no longer be rolled back to, so
   * state.json stays as bounded as releases/). `kept`: the releases left on the host.
   * `stateJson` is undefined when nothing changes; `written()` takes the new state once the host
   * has written it.
   */
  finish(stopped: Slot | null): {
    prune: string[]
    kept: string[]
    stateJson?: string
    written: () => void
  } {
    const present = [...new Set([...this.releases, this.target.version])]
    const previous = stopped === null ? null : this.state.slots[stopped]
    let next = this.state
    if (stopped !== null && previous) {
      next = { ...next, slots: { ...next.slots, [stopped]: { ...previous, pid: null } } }
    }
    next = this.withWorkers(next)
    const prune = releasesToPrune(present, next, this.s.settings.app.keepReleases)
    const kept = present.filter((version) => !prune.includes(version))
    const history = next.history.filter((r) => !prune.includes(r.version))
    if (history.length < next.history.length) next = { ...next, history }
    // A release that is gone can be uploaded again: what it served no longer matters.
    const switchedBack = next.switchedBack?.filter((v) => present.includes(v) && !prune.includes(v))
    if (switchedBack && switchedBack.length < (next.switchedBack?.length ?? 0)) {
      next = { ...next, switchedBack }
    }
    if (next === this.state) return { prune, kept, written: () => {} }
    const written = () => {
      this.state = next
      if (this.s.role === 'worker' && next.workers) this.workersRecorded(next.workers.version)
    }
    return { prune, kept, stateJson: stateText(next), written }
  }

  /** A worker host runs `version`'s workers now, as state.json says. */
  private workersRecorded(version: string): void {
    this.s.journal.mark({ kind: 'recorded' })
    const report = this.s.report
    if (report.outcome !== 'rolled-back') report.outcome = 'deployed'
    report.liveVersion = version
  }

  /**
   * The state once this run's workers replaced the live ones (`target.workers`; undefined: the
   * run did not get to them). On a worker host, where no switch records the release, the release
   * enters the history with its workers.
   */
  private withWorkers(state: HostState): HostState {
    const workers = this.target.workers
    // Undefined: the run did not get to the workers; null with none running: nothing changes.
    if (workers === undefined || (workers === null && !state.workers)) return state
    if (this.s.role === 'web') return { ...state, workers }
    const { version, sha256, commands, assets, plan } = this.target
    const entry = {
      version,
      sha256,
      slot: workers?.generation ?? plan.targetSlot,
      deployedAt: new Date().toISOString(),
      ...(commands === undefined ? {} : { commands }),
      ...(assets.length === 0 ? {} : { assets }),
    }
    const history = [entry, ...state.history.filter((r) => r.version !== version)]
    return { ...state, workers, history }
  }

  private async write(): Promise<void> {
    await this.s.host.exec(writeStateFile(this.s.layout), {
      step: 'write state',
      stdin: this.text(),
    })
  }

  private text(): string {
    return stateText(this.state)
  }
}

/** state.json as the action writes it. */
function stateText(state: HostState): string {
  return `${JSON.stringify(state, null, 2)}\n`
}
