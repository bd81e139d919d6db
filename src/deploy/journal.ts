/**
 * What a run has changed on each host beyond what state.json says, saved as it happens (with
 * core.saveState), so that the post step can repair a host when the main step was cancelled or
 * died mid-run: stop a slot it had started, put nginx back on the slot state.json names, put
 * back the shared/.env it replaced.
 *
 * A step that touches a host marks its change before it makes it, and clears it once undone:
 * `mark` and `clear` update the host's entry and save the journal in one call, so there is no
 * separate save to forget.
 */
import type { Slot, WorkersState } from '../remote/state.js'

/** The saved form of one host's entry, as the post step reads it. */
export interface JournalEntry {
  /** A slot this run started that state.json does not (yet) name as live. */
  startedSlot?: Slot
  /** The upstream file may differ from what state.json implies. */
  upstreamTouched?: boolean
  /** The managed site file (`nginx-site`) may differ from the one before the run. */
  siteTouched?: boolean
  /**
   * Strategy reload: `current` may have moved (and the live slot reloaded) away from this
   * version, which state.json still names.
   */
  currentMovedFrom?: string
  /**
   * Worker generations this run started or began to stop: each one state.json does not name as
   * the live workers is stopped (also after the switch was recorded).
   */
  workers?: WorkersState[]
  /** shared/.env may have been replaced by this run (its token: see writeEnvFile). */
  envToken?: string
}

/** A change a run makes on a host, as it is marked in the journal. */
export type Change =
  /** The run started this slot. */
  | { kind: 'started slot'; slot: Slot }
  /** The upstream file was (or is about to be) written. */
  | { kind: 'upstream' }
  /** The managed site file was (or is about to be) written. */
  | { kind: 'site' }
  /** Strategy reload: `current` moved (or is about to move) away from `from`. */
  | { kind: 'current moved'; from: string }
  /**
   * shared/.env was (or is about to be) replaced, with an undo record carrying `token`: put back
   * unless the release went live.
   */
  | { kind: 'env written'; token: string }
  /** The new release's workers were (or are about to be) started in this generation. */
  | { kind: 'started workers'; workers: WorkersState }
  /** The previous release's workers are about to be stopped (once state.json names the new). */
  | { kind: 'retiring workers'; workers: WorkersState }
  /**
   * state.json names this run's release as live: while marked, the post step has nothing to
   * repair on the host (the other changes are kept, for when the record is reverted).
   */
  | { kind: 'recorded' }

export type ChangeKind = Change['kind']

/** The run's journal: one entry per host, saved whole on every change. */
export class Journal {
  private readonly hosts = new Map<string, HostJournal>()

  constructor(private readonly persist: (text: string) => void = () => {}) {}

  /** The journal of one host (the same object on every call for that host). */
  of(host: string): HostJournal {
    let journal = this.hosts.get(host)
    if (journal === undefined) {
      journal = new HostJournal(() => this.save())
      this.hosts.set(host, journal)
    }
    return journal
  }

  /** The saved form: what the post step has to repair, per host ('' when nothing). */
  text(): string {
    const entries = [...this.hosts]
      .map(([host, journal]) => [host, journal.entry()] as const)
      .filter((pair): pair is readonly [string, JournalEntry] => pair[1] !== undefined)
    return entries.length === 0 ? '' : JSON.stringify(Object.fromEntries(entries))
  }

  private save(): void {
    this.persist(this.text())
  }

  static parse(text: string): Record<string, JournalEntry> {
    if (text.trim() === '') return {}
    return JSON.parse(text) as Record<string, JournalEntry>
  }
}

/** One host's changes; every mark and clear saves the whole journal. */
export class HostJournal {
  private readonly changes = new Map<ChangeKind, Change>()

  constructor(private readonly save: () => void) {}

  /** Notes a change (before it is made on the host: a half-made change is repaired too). */
  mark(change: Change): void {
    this.changes.set(change.kind, change)
    this.save()
  }

  /** Notes that a change was undone (or, for `recorded`, that state.json was put back). */
  clear(kind: ChangeKind): void {
    this.changes.delete(kind)
    this.save()
  }

  has(kind: ChangeKind): boolean {
    return this.changes.has(kind)
  }

  /** The change of this kind, while marked. */
  get<K extends ChangeKind>(kind: K): Extract<Change, { kind: K }> | undefined {
    return this.changes.get(kind) as Extract<Change, { kind: K }> | undefined
  }

  /** What the post step would have to repair if the run died now (undefined: nothing). */
  entry(): JournalEntry | undefined {
    const workers = (['started workers', 'retiring workers'] as const).flatMap(
      (kind) => this.get(kind)?.workers ?? [],
    )
    if (this.changes.has('recorded')) return workers.length > 0 ? { workers } : undefined
    const env = this.get('env written')
    const entry: JournalEntry = {
      startedSlot: this.get('started slot')?.slot,
      upstreamTouched: this.changes.has('upstream'),
      siteTouched: this.changes.has('site'),
      currentMovedFrom: this.get('current moved')?.from,
      ...(workers.length > 0 ? { workers } : {}),
      ...(env === undefined ? {} : { envToken: env.token }),
    }
    const nothing =
      entry.startedSlot === undefined &&
      !entry.upstreamTouched &&
      !entry.siteTouched &&
      entry.currentMovedFrom === undefined &&
      workers.length === 0 &&
      env === undefined
    return nothing ? undefined : entry
  }
}
