/**
 * Entries (and at most one incoming snapshot) that the core holds but stable storage does not
 * yet: the tail of the log. Entries handed out in a `Ready` are "in progress" until `advance`
 * confirms they are durable; a truncation that cuts into them moves the marker back.
 *
 * Invariant: `entries[i].index === offset + i`; when `snapshot` is set, `offset` is
 * `snapshot.metadata.index + 1`.
 */
import { type Entry, type Index, NO_ENTRIES, type Snapshot, type Term } from "./Types.js"

export class Unstable {
  snapshot: Snapshot | undefined = undefined
  entries: Entry[] = []
  offset: Index
  /** Entries with index < offsetInProgress have been handed out for persistence. */
  offsetInProgress: Index
  snapshotInProgress = false

  constructor(offset: Index) {
    this.offset = offset
    this.offsetInProgress = offset
  }

  /** The first index if there is an unstable snapshot. */
  maybeFirstIndex(): Index | undefined {
    return this.snapshot ? this.snapshot.metadata.index + 1 : undefined
  }

  /** The last index if there are unstable entries or an unstable snapshot. */
  maybeLastIndex(): Index | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1
    return this.snapshot ? this.snapshot.metadata.index : undefined
  }

  /** The term of entry `i` if the unstable part knows it. */
  maybeTerm(i: Index): Term | undefined {
    if (i < this.offset) {
      const s = this.snapshot
      return s && s.metadata.index === i ? s.metadata.term : undefined
    }
    const last = this.maybeLastIndex()
    if (last === undefined || i > last) return undefined
    return this.entries[i - this.offset]!.term
  }

  /** Entries not yet handed out for persistence. */
  nextEntries(): readonly Entry[] {
    const inProgress = this.offsetInProgress - this.offset
    if (inProgress >= this.entries.length) return NO_ENTRIES
    return inProgress === 0 ? this.entries.slice() : this.entries.slice(inProgress)
  }

  hasNextEntries(): boolean {
    return this.offsetInProgress - this.offset < this.entries.length
  }

  /** The snapshot, if it has not been handed out for persistence yet. */
  nextSnapshot(): Snapshot | undefined {
    return this.snapshot && !this.snapshotInProgress ? this.snapshot : undefined
  }

  /** Marks everything currently held as handed out for persistence. */
  acceptInProgress(): void {
    if (this.entries.length > 0) this.offsetInProgress = this.offset + this.entries.length
    if (this.snapshot) this.snapshotInProgress = true
  }

  /**
   * Entries up to `i` (with term `t` at `i`) are durable: drop them. Ignored when the entry at
   * `i` has since been replaced by one of another term (its write raced a truncation).
   */
  stableTo(i: Index, t: Term): void {
    const gt = this.maybeTerm(i)
    if (gt === undefined || gt !== t || i < this.offset) return
    const n = i + 1 - this.offset
    this.entries = n >= this.entries.length ? [] : this.entries.slice(n)
    this.offset = i + 1
    if (this.offsetInProgress < this.offset) this.offsetInProgress = this.offset
  }

  stableSnapTo(i: Index): void {
    if (this.snapshot && this.snapshot.metadata.index === i) {
      this.snapshot = undefined
      this.snapshotInProgress = false
    }
  }

  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1
    this.offsetInProgress = this.offset
    this.entries = []
    this.snapshot = s
    this.snapshotInProgress = false
  }

  /** Appends `ents` (contiguous), replacing whatever they conflict with. */
  truncateAndAppend(ents: readonly Entry[]): void {
    const from = ents[0]!.index
    const end = this.offset + this.entries.length
    if (from === end) {
      for (const e of ents) this.entries.push(e)
    } else if (from <= this.offset) {
      // Replaces everything unstable: storage's conflicting suffix is overwritten when persisted.
      this.entries = ents.slice()
      this.offset = from
      this.offsetInProgress = from
    } else {
      this.entries.length = from - this.offset
      for (const e of ents) this.entries.push(e)
      if (this.offsetInProgress > from) this.offsetInProgress = from
    }
  }

  /** Unstable entries in [lo, hi); the caller guarantees the range is held here. */
  slice(lo: Index, hi: Index): Entry[] {
    return this.entries.slice(lo - this.offset, hi - this.offset)
  }
}
