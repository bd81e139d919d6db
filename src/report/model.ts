/** What a run did, as data: filled in by the strategies, rendered by the summary and outputs. */
import type { Strategy } from '../inputs/settings.js'
import type { HostPlan } from '../deploy/plan.js'
import type { Slot } from '../remote/state.js'

export type RunStatus = 'deployed' | 'rolled-back' | 'failed' | 'unchanged'

/** Phases of a run, in the order they happen. */
export type Phase =
  | 'build'
  | 'connect'
  | 'lock'
  | 'ship'
  | 'migrate'
  | 'start'
  | 'health'
  | 'smoke'
  | 'lb-out'
  | 'switch'
  | 'canary'
  | 'lb-in'
  | 'watch'
  | 'workers'
  | 'drain'
  | 'stop-old'
  | 'post-deploy'
  | 'record'

export interface PhaseTiming {
  phase: Phase
  /** Milliseconds since the epoch. */
  startedAt: number
  endedAt: number
  /** Set when the phase failed. */
  failed?: boolean
}

export type HostOutcome =
  /** Switched to the new version. */
  | 'deployed'
  /** Already ran this version; nothing changed. */
  | 'unchanged'
  /** The run failed; this host still serves its previous version. */
  | 'failed'
  /** Switched, then switched back because the run failed later. */
  | 'reverted'
  | 'rolled-back'

/** A web host (`hosts`), or a host that runs only the workers (`worker-hosts`). */
export type HostRole = 'web' | 'worker'

/** A worker of the release on a host, after the run. */
export interface WorkerOutcome {
  name: string
  version: string
  /** up: started and running; exited / failed: did not come up (the run failed). */
  state: 'up' | 'exited' | 'failed'
}

/** What asset-path bridging did on a host, before the new release took traffic. */
export interface AssetsOutcome {
  /** The new release's own files in its asset folders. */
  files: number
  /** Files of the releases the run keeps, linked into the new release. */
  linked: number
  /** Those releases, newest first (the ones that gave files). */
  from: string[]
  /** The new release's files linked into the live one (absent: nothing was live). */
  intoLive?: { version: string; files: number }
  /** Names with different content in two kept releases (each release keeps its own). */
  clashes: number
  /** The first of them, by name (absent: none). */
  firstClash?: string
}

export interface HostReport {
  host: string
  /** Absent for a web host. */
  role?: 'worker'
  /** The release's workers this run started (absent: none). */
  workers?: WorkerOutcome[]
  /** Rolling deploys: the batch (1-based) the host switched in. */
  batch?: number
  outcome: HostOutcome
  /** Slot serving after the run (null: nothing serves yet, e.g. a failed first deploy). */
  liveSlot: Slot | null
  liveVersion: string | null
  /** Slot and version that served before the run. */
  previousSlot: Slot | null
  previousVersion: string | null
  /** Per-host phases (ship, start, health, switch, drain, stop-old). */
  phases: PhaseTiming[]
  /**
   * Connections still open when a drain of this host reached drain-timeout (websockets, or
   * requests longer than drain-timeout; the slot was stopped anyway). Absent when it drained.
   */
  openAfterDrain?: number
  /** asset-path: what the bridge linked (absent: no asset-path, or it did not run). */
  assets?: AssetsOutcome
  /** What went wrong on this host (remote text: escape before rendering). */
  error?: string
}

export interface RunReport {
  status: RunStatus
  strategy: Strategy
  /** Set for a rollback run: the version asked for (`rollback-to`; '' = the previous release). */
  rollbackTo?: string
  app: string
  version: string
  /** Version that served before the run (the same on all hosts, else the first host's). */
  previousVersion: string | null
  liveSlot: Slot | null
  previousSlot: Slot | null
  hosts: HostReport[]
  /** Run-wide phases (build, connect, lock, migrate, smoke, canary, post-deploy ...). */
  phases: PhaseTiming[]
  /** Strategy canary: its steps, in order (empty for the other strategies). */
  canarySteps: JudgedWindow[]
  /** The watches after the switch (`watch`): one, or one per rolling batch; empty without. */
  watches: JudgedWindow[]
  startedAt: number
  endedAt: number
  /** The run's error, when status is failed. */
  error?: string
  /** `url` input, if any. */
  url: string
  /** GitHub Deployment id, if one was created. */
  deploymentId?: number
  /** Link to this workflow run, for the summary (may be ''). */
  runUrl: string
}

/** Requests and 5xx answers of the new version. */
export interface Counts {
  requests: number
  errors: number
}

/** A 5xx answer of the new version, from the access log. */
export interface FailedRequest {
  host: string
  status: number
  /** When nginx logged it (ms since the epoch). */
  at: number
}

export type Verdict =
  /** Nothing judged the access log (its gate is off): health and the checks only. */
  | 'not judged'
  | 'passed'
  /** Found wanting, or no evidence (`failClosed`). */
  | 'aborted'

/**
 * A window of real traffic to the new version, judged from the access log of the app's slots (a
 * canary step, or the watch after a switch), for the summary and outputs.
 */
export interface JudgedWindow {
  /** A canary step (`10%`, `1 of 3 host(s)`), or a watch (`watch`, `batch 2`). */
  label: string
  /** Requests and 5xx that reached the new version (null: no access log was read). */
  counts: Counts | null
  /** p99 of the new version's response time in ms (2 significant digits, rounded up). */
  p99Ms: number | null
  verdict: Verdict | 'promoted'
  /** Aborted for want of evidence (no readable log, no request, fewer than the minimum). */
  failClosed?: boolean
  /** Why it aborted, or what was not judged. */
  note?: string
  /** The first 5xx answers of the new version (at most FIRST_FAILURES). */
  firstFailures: FailedRequest[]
  /** How long it lasted: longer than asked when it waited for the minimum of requests. */
  ms?: number
}

/** A window keeps this many of the new version's first 5xx answers. */
export const FIRST_FAILURES = 5

/** A window before anything was seen. */
export function newWindow(label: string): JudgedWindow {
  return { label, counts: null, p99Ms: null, verdict: 'not judged', firstFailures: [] }
}

/**
 * Dry run: will a canary (or a watch) on this host have access log evidence, and why.
 * `blocking`: the run would fail (nginx -t, or the gate failing closed).
 */
export interface LogEvidence {
  available: boolean
  why: string
  blocking: boolean
}

/** A host's report before anything happened on it (a failure that stops the run leaves it so). */
export function emptyHostReport(host: string, role: HostRole = 'web'): HostReport {
  return {
    host,
    ...(role === 'worker' ? { role } : {}),
    outcome: 'failed',
    liveSlot: null,
    liveVersion: null,
    previousSlot: null,
    previousVersion: null,
    phases: [],
  }
}

/** What `dry-run: true` found on one host: filled in by the dry run, rendered by report/dry-run. */
export interface HostCheck {
  host: string
  /** Absent when the host could not be reached. */
  plan?: HostPlan
  problems: string[]
  /** What would work, but not as well as it could (e.g. a canary judged on health only). */
  warnings?: string[]
  /** A canary or a watch: whether its windows will have access log evidence, and why. */
  canary?: LogEvidence & { for: 'canary' | 'watch' }
  /** How the host would run (e.g. which process manager `auto` picks, and why). */
  notes?: string[]
}
