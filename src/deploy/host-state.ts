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
import { listReleases } from '../remote/commands/release.js'
import { and, cmd } from '../remote/shell.js'
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
  /** The release directories on the host (pruning at the end of the run needs no listing). */
  releases: string[]
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
    and(
      readFiles(site.serverNames.length > 0 ? [...paths, site.file] : paths),
      listReleases(layout),
    ),
    { step: 'read state' },
  )
  const [text = '', upstream = '', siteFile = ''] = splitFiles(stdout)
  const releases = stdout.slice(stdout.lastIndexOf('\0') + 1).split('\n')
  let state: HostState
  try {
    state = parseState(text === '' ? undefined : text, layout.state)
  } catch (error) {
    throw new HostError(s.name, 'read state', errorMessage(error))
  }
  await reportRestarts(s, state, manager)
  const loaded = stateLoaded(s, state, manager, releases)
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
  /** The names in releases/ (temporary ones are left out). */
  releases: string[] = [],
): LoadedState {
  const plan = planHost(s.settings, s.name, state, s.version)
  const names = releases.filter((name) => name !== '' && !name.includes('.tmp.'))
  return { state, plan, manager, files: nginxFiles(s), siteToInstall: false, releases: names }
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
    const { version, sha256, commands, plan, pid } = this.target
    const slot = plan.targetSlot
    const now = new Date().toISOString()
    this.state = {
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
    await this.s.host.exec(recordRelease(this.s.layout, version), {
      step: 'record',
      stdin: this.text(),
    })
    this.s.journal.mark({ kind: 'recorded' })
    this.s.report.outcome = 'deployed'
    this.s.report.liveSlot = slot
    this.s.report.liveVersion = version
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

  /**
   * The end of the run on this host (HostDeploy's finish block): the releases beyond
   * keep-releases to remove (never the live or the previous one), and state.json as it is once
   * `stopped` (the old slot, or null) has stopped and those releases are gone: the slot's pid
   * cleared, their history entries removed (a pruned release can no longer be rolled back to, so
   * state.json stays as bounded as releases/). `stateJson` is undefined when nothing changes;
   * `written()` takes the new state once the host has written it.
   */
  finish(stopped: Slot | null): { prune: string[]; stateJson?: string; written: () => void } {
    const present = [...new Set([...this.releases, this.target.version])]
    const previous = stopped === null ? null : this.state.slots[stopped]
    let next = this.state
    if (stopped !== null && previous) {
      next = { ...next, slots: { ...next.slots, [stopped]: { ...previous, pid: null } } }
    }
    const prune = releasesToPrune(present, next, this.s.settings.app.keepReleases)
    const history = next.history.filter((r) => !prune.includes(r.version))
    if (history.length < next.history.length) next = { ...next, history }
    if (next === this.state) return { prune, written: () => {} }
    return { prune, stateJson: stateText(next), written: () => (this.state = next) }
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

function stateText(state: HostState): string {
  return `${JSON.stringify(state, null, 2)}\n`
}
