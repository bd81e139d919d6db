/**
 * Fingerprinted assets of one host (`asset-path`): before the release this run moves the host to
 * takes traffic, its asset folders get the files of the releases the run keeps, and the live
 * release gets its files (remote/commands/assets.ts), so that a page of either version finds its
 * bundle on either slot. Said in one log line per host and in the host's report; a run that fails
 * before any nginx reload sent the new version traffic takes back what it linked into the live
 * release.
 */
import { RemoteCommandError } from '../common/errors.js'
import { info, warning } from '../report/log.js'
import type { AssetsOutcome, HostReport } from '../report/model.js'
import {
  ASSETS_STEP,
  bridgeAssets,
  parseBridge,
  pruneAssetLinks,
  unlinkAssets,
  unlinkedCount,
  type BridgeResult,
} from '../remote/commands/assets.js'
import type { Shell } from '../remote/shell.js'
import type { HostState } from '../remote/state.js'
import type { HostSession, Target } from './host-session.js'
import type { HostFacts } from './host-state.js'
import { assetSources } from './plan.js'

export class AssetBridge {
  /** The bridge ran to its end in this run. */
  private bridged = false
  /** The live release that got files of the target in this run (undefined: none). */
  private linkedIntoLive: string | undefined
  /** The live slot reloaded into the target itself (the reload strategy): its pages exist. */
  private reloadedInPlace = false

  constructor(
    private readonly s: HostSession,
    private readonly target: Target,
    private readonly state: () => HostState,
    private readonly facts: HostFacts,
  ) {}

  /**
   * The bridge still to run before the target takes traffic (in the ship command; for a
   * rollback, in the switch's install stage); undefined when there is none: no asset folders, a
   * worker host, or already done.
   */
  pending(): Shell | undefined {
    const { version, assets, plan } = this.target
    if (this.bridged || this.s.role === 'worker' || assets.length === 0) return undefined
    const keep = this.s.settings.app.keepReleases
    const sources = assetSources(this.state(), version, plan.targetSlot, this.facts.releases, keep)
    return bridgeAssets({
      layout: this.s.layout,
      target: version,
      live: plan.liveVersion ?? '',
      sources,
      folders: assets,
    })
  }

  /**
   * Takes the output of the bridge (also of one that failed half-way: what it linked into the
   * live release is known): the log line, the host's report, and a warning for names whose
   * content differs between kept releases.
   */
  took(stdout: string): void {
    const result = parseBridge(stdout)
    const live = this.target.plan.liveVersion
    if (live !== null && result.linked.some((l) => l.into === live)) this.linkedIntoLive = live
    if (!result.done) return
    this.bridged = true
    const outcome = assetsOutcome(result, this.target.version, live)
    this.s.report.assets = outcome
    info(`[${this.s.name}] assets: ${assetsNote(outcome, this.target.version)}`)
  }

  /** Runs the pending bridge on its own (a release already on the host from an earlier run). */
  async run(): Promise<void> {
    const bridge = this.pending()
    if (bridge === undefined) return
    const r = await this.s.host.tryExec(bridge, { step: ASSETS_STEP })
    this.took(r.stdout)
    if (r.exitCode !== 0)
      throw new RemoteCommandError(this.s.name, ASSETS_STEP, r.exitCode, r.stderr)
  }

  /** Whether this run linked files of the target into the live release. */
  get intoLive(): boolean {
    return this.linkedIntoLive !== undefined
  }

  /** The live slot is about to reload into the target (reload strategy): it serves its pages. */
  servedInPlace(): void {
    this.reloadedInPlace = true
  }

  /** The target served pages in place (see servedInPlace). */
  get reloaded(): boolean {
    return this.reloadedInPlace
  }

  /**
   * After a run that failed before any nginx reload sent the new version traffic: the live
   * release gives back the files this run linked into it (no page of the new version exists).
   */
  async takeBack(): Promise<void> {
    const live = this.linkedIntoLive
    if (live === undefined) return
    const r = await this.s.host.exec(unlinkAssets(this.s.layout, live, this.target.version), {
      step: 'unlink assets',
    })
    info(
      `[${this.s.name}] assets: ${unlinkedCount(r.stdout)} file(s) of ${this.target.version} taken back from ${live} (no page of ${this.target.version} was served)`,
    )
    this.linkedIntoLive = undefined
    delete this.s.report.assets?.intoLive
  }

  /**
   * The finish block's part: links to releases it no longer keeps go (see pruneAssetLinks);
   * undefined where no release of the host was ever bridged (state.json records asset-path).
   */
  prune(kept: string[]): Shell | undefined {
    const bridged =
      this.target.assets.length > 0 || this.state().history.some((r) => r.assets !== undefined)
    if (this.s.role === 'worker' || !bridged) return undefined
    return pruneAssetLinks(this.s.layout, kept)
  }

  /** Says what the finish block's pruneAssetLinks removed (its `UNLINKED <n>`). */
  pruned(stdout: string): void {
    const links = unlinkedCount(stdout)
    if (links > 0) info(`[${this.s.name}] assets: ${links} link(s) to pruned releases removed`)
  }
}

/** The report of a bridge into `target` (`live`: the live release, null when none). */
export function assetsOutcome(
  result: BridgeResult,
  target: string,
  live: string | null,
): AssetsOutcome {
  const into = result.linked.filter((l) => l.into === target)
  const toLive = result.linked.find((l) => l.into === live)
  return {
    files: result.files,
    linked: into.reduce((sum, l) => sum + l.files, 0),
    from: into.map((l) => l.from),
    ...(live === null ? {} : { intoLive: { version: live, files: toLive?.files ?? 0 } }),
    clashes: result.clashes?.names ?? 0,
    ...(result.clashes ? { firstClash: result.clashes.first } : {}),
  }
}

/**
 * Once per run, after it: names with different content in two kept releases, as the hosts' bridges
 * found them (the most any host found, the first name by order).
 */
export function warnAssetClashes(hosts: HostReport[]): void {
  const found = hosts.flatMap((h) => (h.assets && h.assets.clashes > 0 ? [h.assets] : []))
  if (found.length === 0) return
  const names = Math.max(...found.map((a) => a.clashes))
  const first = found.map((a) => a.firstClash ?? '').sort()[0]
  warning(
    `asset-path: ${names} file name(s) have different content in two kept releases (${first}${names > 1 ? ', ...' : ''}; on ${found.length} host(s)): each release keeps its own, so a page of one version may get the other's file from the other slot. Fingerprint them (a content hash in the name), as the bundlers' production builds do.`,
  )
}

/**
 * `1,204 file(s) of v2, v1 linked into v3 (its own: 1,180); 1,180 of v3 into v2 (live)`, or what
 * there was instead.
 */
export function assetsNote(a: AssetsOutcome, target: string): string {
  const n = (count: number) => count.toLocaleString('en-US')
  const into =
    a.linked === 0
      ? `nothing to link into ${target} (its own: ${n(a.files)} file(s))`
      : `${n(a.linked)} file(s) of ${a.from.join(', ')} linked into ${target} (its own: ${n(a.files)})`
  const live =
    a.intoLive && `; ${n(a.intoLive.files)} of ${target} into ${a.intoLive.version} (live)`
  return `${into}${live ?? ''}`
}
