/**
 * A host's state.json: reading it at the start (with the checks that refuse a host the run must
 * not touch), and the record of the run in it (the switch, its revert, a stopped slot, pruning).
 */
import { HostError, errorMessage } from '../common/errors.js'
import { info, warning } from '../report/log.js'
import { planHost, releasesToPrune, type HostPlan } from './plan.js'
import {
  readFiles,
  recordRelease,
  splitFiles,
  switchCurrent,
  writeStateFile,
} from '../remote/commands/files.js'
import {
  detectProcessManager,
  parseProcessManagerFacts,
  resolveProcessManager,
} from '../remote/commands/process-manager.js'
import { listReleases, removeReleases } from '../remote/commands/release.js'
import type { SwitchSpec } from '../remote/commands/switch.js'
import { cmd } from '../remote/shell.js'
import { parseState, type HostState, type ReleaseCommands, type Slot } from '../remote/state.js'
import type { HostSession, Target } from './host-session.js'
import { slotManager, type ProcessManager } from './slot-ops.js'
import { nginxFiles, renderedSite, type NginxFiles } from './upstream-switch.js'

/** What readState found on a host: what the rest of the run works from. */
export interface LoadedState {
  state: HostState
  plan: HostPlan
  manager: ProcessManager
  /** The app's upstream include and the managed site, checked against what the host has. */
  files: NginxFiles
  /** The managed site differs from the host's: the next upstream install writes it too. */
  siteToInstall: boolean
}

/**
 * Reads state.json and plans this host's part; refuses a corrupt state, a hand-edited upstream
 * or managed site, or a site file the action did not write. Resolves process-manager auto
 * first, and reports restarts of the live slot since its start.
 */
export async function readState(s: HostSession): Promise<LoadedState> {
  const { settings, layout, host } = s
  const manager =
    settings.app.processManager === 'auto' ? await resolveManager(s) : settings.app.processManager
  const site = settings.site
  const paths = [layout.state, settings.nginx.upstreamFile]
  const { stdout } = await host.exec(
    readFiles(site.serverNames.length > 0 ? [...paths, site.file] : paths),
    { step: 'read state' },
  )
  const [text = '', upstream = '', siteFile = ''] = splitFiles(stdout)
  let state: HostState
  try {
    state = parseState(text === '' ? undefined : text, layout.state)
  } catch (error) {
    throw new HostError(s.name, 'read state', errorMessage(error))
  }
  await reportRestarts(s, state, manager)
  const loaded = stateLoaded(s, state, manager)
  s.report.previousSlot = s.report.liveSlot = loaded.plan.liveSlot
  s.report.previousVersion = s.report.liveVersion = loaded.plan.liveVersion
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

/** The run's start from `state` as read (or, in tests, as given): the plan and the nginx files. */
export function stateLoaded(
  s: HostSession,
  state: HostState,
  manager: ProcessManager,
): LoadedState {
  const plan = planHost(s.settings, s.name, state, s.version)
  return { state, plan, manager, files: nginxFiles(s), siteToInstall: false }
}

/** process-manager auto: systemd units or the built-in manager, as this host allows. */
async function resolveManager(s: HostSession): Promise<ProcessManager> {
  const { name: app } = s.settings.app
  const user = s.host.address.user
  const { stdout } = await s.host.exec(detectProcessManager(app, s.settings.sudo), {
    step: 'process manager',
  })
  const resolved = resolveProcessManager(parseProcessManagerFacts(stdout), app, user)
  if (resolved.manager === 'error') {
    throw new HostError(s.name, 'process manager', resolved.reason)
  }
  info(`[${s.name}] process-manager auto: ${resolved.manager} (${resolved.reason})`)
  return resolved.manager
}

/**
 * The live slot's app was restarted by the process manager since the action started it (a
 * crash, the OOM killer): a warning in this run's output, with where to look.
 */
async function reportRestarts(
  s: HostSession,
  state: HostState,
  manager: ProcessManager,
): Promise<void> {
  const live = state.liveSlot
  if (live === null) return
  const slots = slotManager(s.settings, manager, s.layout, s.host.address.user)
  const { stdout } = await s.host.exec(slots.restarts(live), { step: 'read state' })
  const [count = '', when = '', ...why] = stdout.trim().split(/\s+/)
  if (!/^[1-9]\d*$/.test(count)) return
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
    const { version, sha256, commands, plan, pid } = this.target
    const slot = plan.targetSlot
    const now = new Date().toISOString()
    return {
      ...this.state,
      liveSlot: slot,
      slots: {
        ...this.state.slots,
        [slot]: { version, port: plan.targetPort, pid, startedAt: now },
      },
      history: [
        {
          version,
          sha256,
          slot,
          deployedAt: now,
          ...(commands === undefined ? {} : { commands }),
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

  /** Undoes recordSwitch after a failed switch: the previous state and `current` come back. */
  async revertRecord(): Promise<void> {
    if (this.state === this.before) return
    this.state = this.before
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

  /** The old slot was stopped: its pid goes (when state.json knows the slot). */
  async slotStopped(slot: Slot): Promise<void> {
    const previous = this.state.slots[slot]
    if (!previous) return
    this.state = {
      ...this.state,
      slots: { ...this.state.slots, [slot]: { ...previous, pid: null } },
    }
    await this.write()
  }

  /** Removes releases beyond keep-releases (never the live or the previous one). */
  async pruneReleases(): Promise<string[]> {
    const { host, layout, settings } = this.s
    const { stdout } = await host.exec(listReleases(layout), { step: 'prune' })
    const present = stdout.split('\n').filter((name) => name !== '' && !name.includes('.tmp.'))
    const prune = releasesToPrune(present, this.state, settings.app.keepReleases)
    if (prune.length === 0) return prune
    await host.exec(removeReleases(layout, prune), { step: 'prune' })
    // A pruned release can no longer be rolled back to: its history entry goes too, so that
    // state.json stays as bounded as releases/.
    const history = this.state.history.filter((r) => !prune.includes(r.version))
    if (history.length < this.state.history.length) {
      this.state = { ...this.state, history }
      await this.write()
    }
    return prune
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
