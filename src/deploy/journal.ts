/**
 * What a run has changed on each host beyond what state.json says, saved as it happens (with
 * core.saveState), so that the post step can repair a host when the main step was cancelled or
 * died mid-run: stop a slot it had started, put nginx back on the slot state.json names.
 */
import type { Slot } from '../remote/state.js'

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
}

export class Journal {
  private readonly entries = new Map<string, JournalEntry>()

  constructor(private readonly persist: (text: string) => void = () => {}) {}

  set(host: string, entry: JournalEntry): void {
    const nothing =
      entry.startedSlot === undefined &&
      !entry.upstreamTouched &&
      !entry.siteTouched &&
      entry.currentMovedFrom === undefined
    if (nothing) this.entries.delete(host)
    else this.entries.set(host, entry)
    this.persist(this.entries.size === 0 ? '' : JSON.stringify(Object.fromEntries(this.entries)))
  }

  static parse(text: string): Record<string, JournalEntry> {
    if (text.trim() === '') return {}
    return JSON.parse(text) as Record<string, JournalEntry>
  }
}
