/** What a run will do on each host, decided from the settings and the host's state (pure). */
import type { Settings } from '../inputs/settings.js'
import { layout } from '../remote/layout.js'
import { otherSlot, type HostState, type Slot } from '../remote/state.js'

export interface HostPlan {
  host: string
  /** The slot serving now; null on a host that was never deployed to. */
  liveSlot: Slot | null
  liveVersion: string | null
  /** The slot the new version starts on: the idle one (blue on a fresh host). */
  targetSlot: Slot
  targetPort: number
  releaseDir: string
}

export function slotPort(settings: Settings, slot: Slot): number {
  return slot === 'blue' ? settings.slots.bluePort : settings.slots.greenPort
}

/**
 * The version to deploy: the `version` input, else the short commit SHA the workflow runs on.
 */
export function resolveVersion(input: string, commitSha: string | undefined): string {
  if (input !== '') return input
  if (commitSha && /^[0-9a-f]{7,}$/i.test(commitSha)) return commitSha.slice(0, 7)
  throw new Error(
    "Input 'version' is empty and GITHUB_SHA is not set: give a version (e.g. 'v1.2.3').",
  )
}

export function planHost(
  settings: Settings,
  host: string,
  state: HostState,
  version: string,
): HostPlan {
  const liveSlot = state.liveSlot
  const targetSlot = liveSlot === null ? 'blue' : otherSlot(liveSlot)
  return {
    host,
    liveSlot,
    liveVersion: liveSlot === null ? null : (state.slots[liveSlot]?.version ?? null),
    targetSlot,
    targetPort: slotPort(settings, targetSlot),
    releaseDir: layout(settings.app.deployPath).release(version),
  }
}

/**
 * Releases to delete: all but the `keep` newest of the history, never one that a slot runs or
 * ran last (live and previous), nor the live workers' one. Directories the history does not know
 * count as oldest.
 */
export function releasesToPrune(present: string[], state: HostState, keep: number): string[] {
  const newestFirst = state.history.map((r) => r.version).filter((v) => present.includes(v))
  const kept = new Set(newestFirst.slice(0, keep))
  for (const slot of Object.values(state.slots)) if (slot) kept.add(slot.version)
  if (state.workers) kept.add(state.workers.version)
  return present.filter((version) => !kept.has(version))
}

/**
 * The releases whose own asset files the release `version` gets (asset-path), newest first:
 * those that this run's pruning keeps once `version` is live on `slot` (the live one, the history
 * that keep-releases keeps; never a release that did not go live), but `version` itself.
 * `present`: the release directories on the host.
 */
export function assetSources(
  state: HostState,
  version: string,
  slot: Slot,
  present: string[],
  keep: number,
): string[] {
  const live: HostState = {
    ...state,
    slots: { ...state.slots, [slot]: { version, port: 0, pid: null, startedAt: '' } },
    history: [
      { version, sha256: '', slot, deployedAt: '' },
      ...state.history.filter((r) => r.version !== version),
    ],
  }
  const all = [...new Set([...present, version])]
  const pruned = releasesToPrune(all, live, keep)
  const order = live.history.map((r) => r.version)
  const rank = (v: string) => (order.includes(v) ? order.indexOf(v) : order.length)
  return all.filter((v) => v !== version && !pruned.includes(v)).sort((a, b) => rank(a) - rank(b))
}

/**
 * Whether a version ever served as a release of this host: it is in the history, a slot runs
 * (or ran) it, or a run switched to it and back (switchedBack). Such a release must never change
 * (rollback integrity); one that never went live (its health check failed, or a canary or a
 * watch rejected it) may be replaced by a new upload of the same version.
 */
export function wentLive(state: HostState, version: string): boolean {
  return (
    state.history.some((r) => r.version === version) ||
    Object.values(state.slots).some((slot) => slot?.version === version) ||
    (state.switchedBack ?? []).includes(version)
  )
}

/** Consecutive batches of `size`, in host order. */
export function batches<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = []
  for (let i = 0; i < items.length; i += size) result.push(items.slice(i, i + size))
  return result
}
