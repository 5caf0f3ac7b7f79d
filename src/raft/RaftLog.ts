/**
 * A replica's log: the durable part (`Storage`) followed by the unstable tail (`Unstable`),
 * with the commit and apply cursors.
 *
 * Invariants: `applied <= applying <= committed <= lastIndex()`; committed entries are never
 * overwritten; `firstIndex() - 1` is the snapshot point whose term is always known.
 */
import { limitSize, type Storage } from "./Storage.js"
import type { Entry, Index, Snapshot, Term } from "./Types.js"
import { NO_ENTRIES } from "./Types.js"
import { Unstable } from "./Unstable.js"

const isError = (x: unknown): x is { _tag: string } => typeof x === "object" && x !== null && "_tag" in x

export class RaftLog {
  readonly unstable: Unstable
  committed: Index
  /** Highest index handed out to the application for applying (in a Ready not yet advanced). */
  applying: Index
  /** Highest index the application has applied. */
  applied: Index

  constructor(
    readonly storage: Storage,
    readonly maxApplyingBytes: number,
  ) {
    const first = storage.firstIndex()
    const last = storage.lastIndex()
    this.unstable = new Unstable(last + 1)
    this.committed = first - 1
    this.applying = first - 1
    this.applied = first - 1
  }

  firstIndex(): Index {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex()
  }

  lastIndex(): Index {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex()
  }

  /** The term of entry `i`, or undefined when it is compacted or beyond the log. */
  term(i: Index): Term | undefined {
    const t = this.unstable.maybeTerm(i)
    if (t !== undefined) return t
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return undefined
    const st = this.storage.term(i)
    return typeof st === "number" ? st : undefined
  }

  lastTerm(): Term {
    return this.term(this.lastIndex()) ?? 0
  }

  matchTerm(i: Index, t: Term): boolean {
    return this.term(i) === t
  }

  /** Raft §5.4.1: a candidate's log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: Index, lastTerm: Term): boolean {
    const ourTerm = this.lastTerm()
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex())
  }

  /**
   * A leader's MsgApp: when our entry at `prevIndex` has `prevTerm`, append `ents` (dropping
   * what we already have, truncating at the first conflict), advance the commit index to
   * min(committed, last new index) and return the last new index. Undefined on mismatch.
   */
  maybeAppend(prevIndex: Index, prevTerm: Term, committed: Index, ents: readonly Entry[]): Index | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined
    const lastNew = prevIndex + ents.length
    const conflict = this.findConflict(ents)
    if (conflict !== 0) {
      // A conflict at or below the commit index would mean two committed entries disagree.
      if (conflict <= this.committed) return undefined
      this.append(ents.slice(conflict - (prevIndex + 1)))
    }
    this.commitTo(Math.min(committed, lastNew))
    return lastNew
  }

  /** Appends entries to the unstable tail; returns the new last index. */
  append(ents: readonly Entry[]): Index {
    if (ents.length === 0) return this.lastIndex()
    this.unstable.truncateAndAppend(ents)
    return this.lastIndex()
  }

  /**
   * The index of the first entry in `ents` that is new or conflicts with ours, or 0 when we
   * hold all of them already.
   */
  findConflict(ents: readonly Entry[]): Index {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index
    }
    return 0
  }

  /**
   * Fast backtracking: the largest index ≤ `index` whose term is ≤ `term`, with its term. A
   * leader uses the follower's answer to skip a whole term of mismatching entries at once.
   */
  findConflictByTerm(index: Index, term: Term): { index: Index; term: Term } {
    for (; index > 0; index--) {
      const t = this.term(index)
      if (t === undefined) return { index, term: 0 }
      if (t <= term) return { index, term: t }
    }
    return { index: 0, term: 0 }
  }

  commitTo(toCommit: Index): void {
    if (this.committed < toCommit) {
      this.committed = Math.min(toCommit, this.lastIndex())
    }
  }

  /** Commits `maxIndex` if our entry there has `term` (only current-term entries commit by counting). */
  maybeCommit(maxIndex: Index, term: Term): boolean {
    if (maxIndex > this.committed && this.term(maxIndex) === term) {
      this.commitTo(maxIndex)
      return true
    }
    return false
  }

  appliedTo(i: Index): void {
    if (i > this.applied) this.applied = i
    if (i > this.applying) this.applying = i
  }

  acceptApplying(i: Index): void {
    if (i > this.applying) this.applying = i
  }

  stableTo(i: Index, t: Term): void {
    this.unstable.stableTo(i, t)
  }

  stableSnapTo(i: Index): void {
    this.unstable.stableSnapTo(i)
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined
  }

  /** Committed entries not yet handed out for applying (bounded by `maxApplyingBytes`). */
  nextCommittedEnts(): readonly Entry[] {
    if (this.hasPendingSnapshot()) return NO_ENTRIES
    const lo = Math.max(this.applying + 1, this.firstIndex())
    const hi = this.committed + 1
    if (lo >= hi) return NO_ENTRIES
    return this.slice(lo, hi, this.maxApplyingBytes) ?? NO_ENTRIES
  }

  hasNextCommittedEnts(): boolean {
    if (this.hasPendingSnapshot()) return false
    return this.committed > Math.max(this.applying, this.firstIndex() - 1)
  }

  /** The snapshot to send a follower: the unstable one, or storage's (maybe not ready yet). */
  snapshot(): ReturnType<Storage["snapshot"]> {
    return this.unstable.snapshot ?? this.storage.snapshot()
  }

  restore(s: Snapshot): void {
    this.committed = s.metadata.index
    this.unstable.restore(s)
  }

  /**
   * Entries in [lo, hi) within `maxBytes` (at least one). Undefined when `lo` is compacted
   * away (the caller sends a snapshot instead).
   */
  slice(lo: Index, hi: Index, maxBytes: number): readonly Entry[] | undefined {
    if (lo >= hi) return NO_ENTRIES
    if (lo < this.firstIndex()) return undefined
    const last = this.lastIndex()
    if (hi > last + 1) hi = last + 1
    if (lo >= hi) return NO_ENTRIES
    const uOffset = this.unstable.offset
    if (lo >= uOffset) return limitSize(this.unstable.slice(lo, hi), maxBytes)
    const storedHi = Math.min(hi, uOffset)
    const stored = this.storage.entries(lo, storedHi, maxBytes)
    if (isError(stored)) return stored._tag === "Compacted" ? undefined : NO_ENTRIES
    // Storage stopped early at the byte limit: do not add unstable entries after a gap.
    if (stored.length < storedHi - lo || hi <= uOffset) return stored
    const combined = stored.concat(this.unstable.slice(uOffset, hi))
    return limitSize(combined, maxBytes)
  }

  /** Every entry in (after, last], for tests and describers. */
  allEntries(): readonly Entry[] {
    return this.slice(this.firstIndex(), this.lastIndex() + 1, Number.POSITIVE_INFINITY) ?? NO_ENTRIES
  }
}
