/**
 * The core's read-only view of stable storage, and `MemoryStorage`, an implementation that
 * keeps the log in memory (the simulator uses it directly; the node runtime keeps one per
 * replica as the synchronous mirror of what its durable `LogStore` holds).
 *
 * CONTRACT: everything a `Storage` returns MUST already be durable. The core reads from it
 * synchronously; entries it has handed out in a `Ready` but not yet seen acknowledged live in
 * the core's own unstable buffer, not here.
 */
import {
  COMPACTED,
  type Compacted,
  SNAPSHOT_TEMPORARILY_UNAVAILABLE,
  type SnapshotTemporarilyUnavailable,
  UNAVAILABLE,
  type Unavailable,
} from "./Errors.js"
import {
  type ConfState,
  EMPTY_BYTES,
  type Entry,
  EntryType,
  emptyConfState,
  emptyHardState,
  type HardState,
  type Index,
  type Snapshot,
  type Term,
} from "./Types.js"

export interface InitialState {
  readonly hardState: HardState
  readonly confState: ConfState
  /**
   * The log index `confState` is the configuration at: the latest snapshot's index (0 without
   * one). It may be above `firstIndex() - 1` when entries are kept behind the snapshot. Unless
   * `Config.applied` says otherwise, the application's state machine is restored from that
   * snapshot, so the core starts applying after this index.
   */
  readonly snapshotIndex?: Index
}

export interface Storage {
  /** The saved hard state, and the configuration of the latest snapshot. */
  initialState(): InitialState
  /**
   * Entries in [lo, hi), at most `maxBytes` in total size but always at least one entry when
   * any is in range.
   */
  entries(lo: Index, hi: Index, maxBytes: number): readonly Entry[] | Compacted | Unavailable
  /** The term of entry `i`; `i` may be the snapshot's index (firstIndex - 1). */
  term(i: Index): Term | Compacted | Unavailable
  /** The first index available in the log (snapshot index + 1). */
  firstIndex(): Index
  /** The last index in the log (the snapshot index when the log is empty). */
  lastIndex(): Index
  /** The latest snapshot, or `SnapshotTemporarilyUnavailable` while it is being prepared. */
  snapshot(): Snapshot | SnapshotTemporarilyUnavailable
}

/** Bytes an entry accounts for in size limits: its payload plus a fixed overhead. */
export const entrySize = (e: Entry): number => e.data.length + 24

/** Keeps entries from the front of `ents` while their total size stays within `maxBytes` (at least one). */
export const limitSize = <E extends Entry>(ents: readonly E[], maxBytes: number): readonly E[] => {
  if (ents.length <= 1) return ents
  let size = entrySize(ents[0]!)
  let n = 1
  for (; n < ents.length; n++) {
    size += entrySize(ents[n]!)
    if (size > maxBytes) break
  }
  return n === ents.length ? ents : ents.slice(0, n)
}

/**
 * A log held in memory. `ents[0]` is a sentinel standing for the snapshot point (its index and
 * term); real entries follow it.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = emptyHardState
  private snap: Snapshot = {
    metadata: { index: 0, term: 0, confState: emptyConfState },
    data: EMPTY_BYTES,
  }
  private ents: Entry[] = [{ term: 0, index: 0, type: EntryType.Normal, data: EMPTY_BYTES }]
  /** When set, `snapshot()` answers "temporarily unavailable" (for tests of that path). */
  snapshotUnavailable = false

  initialState(): InitialState {
    return {
      hardState: this.hardState,
      confState: this.snap.metadata.confState,
      snapshotIndex: this.snap.metadata.index,
    }
  }

  setHardState(hs: HardState): void {
    this.hardState = hs
  }

  hardStateNow(): HardState {
    return this.hardState
  }

  private offset(): Index {
    return this.ents[0]!.index
  }

  firstIndex(): Index {
    return this.offset() + 1
  }

  lastIndex(): Index {
    return this.offset() + this.ents.length - 1
  }

  entries(lo: Index, hi: Index, maxBytes: number): readonly Entry[] | Compacted | Unavailable {
    const offset = this.offset()
    if (lo <= offset) return COMPACTED
    if (hi > this.lastIndex() + 1) return UNAVAILABLE
    if (lo >= hi) return []
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxBytes)
  }

  term(i: Index): Term | Compacted | Unavailable {
    const offset = this.offset()
    if (i < offset) return COMPACTED
    if (i - offset >= this.ents.length) return UNAVAILABLE
    return this.ents[i - offset]!.term
  }

  snapshot(): Snapshot | SnapshotTemporarilyUnavailable {
    return this.snapshotUnavailable ? SNAPSHOT_TEMPORARILY_UNAVAILABLE : this.snap
  }

  /** Replaces the whole log with `snap` (a follower installing a leader's snapshot). */
  applySnapshot(snap: Snapshot): "ok" | "out-of-date" {
    if (snap.metadata.index <= this.snap.metadata.index) return "out-of-date"
    this.snap = snap
    this.ents = [
      { term: snap.metadata.term, index: snap.metadata.index, type: EntryType.Normal, data: EMPTY_BYTES },
    ]
    return "ok"
  }

  /**
   * Records a snapshot of the state machine at applied index `i` (≤ last index). Entries stay
   * until `compact` removes them, so slow followers can still be served from the log.
   */
  createSnapshot(i: Index, confState: ConfState, data: Uint8Array): Snapshot | "out-of-date" | Unavailable {
    if (i <= this.snap.metadata.index) return "out-of-date"
    if (i > this.lastIndex()) return UNAVAILABLE
    const term = this.ents[i - this.offset()]!.term
    this.snap = { metadata: { index: i, term, confState }, data }
    return this.snap
  }

  /** Discards every entry below `compactIndex`; that entry becomes the new sentinel. */
  compact(compactIndex: Index): "ok" | Compacted | Unavailable {
    const offset = this.offset()
    if (compactIndex <= offset) return COMPACTED
    if (compactIndex > this.lastIndex()) return UNAVAILABLE
    const i = compactIndex - offset
    const sentinel = this.ents[i]!
    const rest = this.ents.slice(i + 1)
    this.ents = [
      { term: sentinel.term, index: sentinel.index, type: EntryType.Normal, data: EMPTY_BYTES },
      ...rest,
    ]
    return "ok"
  }

  /**
   * Appends entries, replacing any conflicting suffix. Entries must be contiguous; entries
   * already compacted away are skipped. Throws when the entries leave a gap (a caller bug).
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return
    const first = this.firstIndex()
    const last = entries[0]!.index + entries.length - 1
    if (last < first) return
    let ents = entries
    if (first > ents[0]!.index) ents = ents.slice(first - ents[0]!.index)
    const at = ents[0]!.index - this.offset()
    if (at > this.ents.length) {
      throw new RangeError(`missing log entries: last ${this.lastIndex()}, appending at ${ents[0]!.index}`)
    }
    if (at < this.ents.length) this.ents.length = at
    for (const e of ents) this.ents.push(e)
  }

  /**
   * Forgets the snapshot's data, keeping its metadata (the runtime keeps snapshot data in its
   * durable store and loads it only while a follower needs it).
   */
  dropSnapshotData(): void {
    if (this.snap.data.length > 0) this.snap = { metadata: this.snap.metadata, data: EMPTY_BYTES }
  }

  /** Every entry currently held (after the snapshot point). */
  allEntries(): readonly Entry[] {
    return this.ents.slice(1)
  }
}
