/**
 * The log: `Unstable` (the unpersisted tail) and `RaftLog` (storage + tail + cursors).
 * Conflict truncation, stableTo with a term mismatch, findConflictByTerm, commit rules, slices
 * across the storage/unstable boundary, and a property check of `maybeAppend` against a
 * plain-array model of Raft's AppendEntries receiver rules.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { RaftLog } from "../../src/raft/RaftLog.js"
import { MemoryStorage } from "../../src/raft/Storage.js"
import { type Entry, EntryType, emptyConfState, type Snapshot } from "../../src/raft/Types.js"
import { Unstable } from "../../src/raft/Unstable.js"

const ent = (index: number, term: number, data = ""): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: new TextEncoder().encode(data),
})
const ents = (from: number, terms: number[]): Entry[] => terms.map((t, i) => ent(from + i, t))
const terms = (es: readonly Entry[]) => es.map((e) => e.term)
const snap = (index: number, term: number): Snapshot => ({
  metadata: { index, term, confState: emptyConfState },
  data: new Uint8Array([1, 2, 3]),
})

/** A log whose storage holds `stored` (from index 1) and whose unstable tail holds `tail`. */
const logWith = (stored: number[], tail: number[] = []) => {
  const s = new MemoryStorage()
  s.append(ents(1, stored))
  const log = new RaftLog(s, Number.POSITIVE_INFINITY)
  if (tail.length > 0) log.append(ents(stored.length + 1, tail))
  return log
}

describe("Unstable", () => {
  it("truncateAndAppend: appends, replaces all, or cuts in the middle (moving the in-progress mark)", () => {
    const u = new Unstable(5)
    u.truncateAndAppend(ents(5, [1, 1, 1]))
    u.acceptInProgress()
    expect(u.offsetInProgress).toBe(8)
    u.truncateAndAppend(ents(8, [1]))
    expect(terms(u.entries)).toEqual([1, 1, 1, 1])
    expect(terms(u.nextEntries())).toEqual([1])
    u.acceptInProgress()
    // Cut in the middle: the in-progress mark moves back to the cut.
    u.truncateAndAppend(ents(6, [2, 2]))
    expect(terms(u.entries)).toEqual([1, 2, 2])
    expect(u.offsetInProgress).toBe(6)
    expect(terms(u.nextEntries())).toEqual([2, 2])
    // Before the offset: everything unstable is replaced.
    u.truncateAndAppend(ents(3, [3]))
    expect(u.offset).toBe(3)
    expect(terms(u.entries)).toEqual([3])
    expect(u.offsetInProgress).toBe(3)
  })

  it("stableTo ignores a term mismatch (the write raced a truncation) and indexes outside", () => {
    const u = new Unstable(5)
    u.truncateAndAppend(ents(5, [1, 1, 2]))
    u.stableTo(6, 2) // entry 6 has term 1
    expect(u.offset).toBe(5)
    u.stableTo(4, 1) // below the offset
    expect(u.offset).toBe(5)
    u.stableTo(9, 2) // beyond the end
    expect(u.offset).toBe(5)
    u.stableTo(6, 1)
    expect(u.offset).toBe(7)
    expect(terms(u.entries)).toEqual([2])
    expect(u.maybeTerm(7)).toBe(2)
    expect(u.maybeTerm(6)).toBeUndefined()
  })

  it("a snapshot sets the offset and answers for its own index", () => {
    const u = new Unstable(5)
    u.truncateAndAppend(ents(5, [1, 1]))
    u.restore(snap(10, 3))
    expect(u.offset).toBe(11)
    expect(u.entries).toEqual([])
    expect(u.maybeFirstIndex()).toBe(11)
    expect(u.maybeLastIndex()).toBe(10)
    expect(u.maybeTerm(10)).toBe(3)
    expect(u.maybeTerm(9)).toBeUndefined()
    expect(u.nextSnapshot()).toBeDefined()
    u.acceptInProgress()
    expect(u.nextSnapshot()).toBeUndefined()
    u.stableSnapTo(9)
    expect(u.snapshot).toBeDefined()
    u.stableSnapTo(10)
    expect(u.snapshot).toBeUndefined()
  })
})

describe("RaftLog", () => {
  it("maybeAppend truncates a conflicting suffix, in storage or in the tail", () => {
    const log = logWith([1, 1, 2, 2], [2, 2])
    // prev (3, 2) matches; entry 4 conflicts (3 != 2): 4.. replaced.
    expect(log.maybeAppend(3, 2, 0, ents(4, [3, 3]))).toBe(5)
    expect(terms(log.allEntries())).toEqual([1, 1, 2, 3, 3])
    // Entries we already hold are skipped, not rewritten.
    const tailBefore = log.unstable.entries.length
    expect(log.maybeAppend(2, 1, 0, ents(3, [2, 3]))).toBe(4)
    expect(log.unstable.entries.length).toBe(tailBefore)
    expect(log.lastIndex()).toBe(5)
  })

  it("maybeAppend refuses a mismatching previous entry, and never rewrites committed entries", () => {
    const log = logWith([1, 1, 2])
    expect(log.maybeAppend(3, 1, 0, ents(4, [2]))).toBeUndefined()
    expect(log.maybeAppend(5, 2, 0, [])).toBeUndefined()
    log.commitTo(3)
    expect(log.maybeAppend(1, 1, 3, ents(2, [5, 5]))).toBeUndefined()
    expect(terms(log.allEntries())).toEqual([1, 1, 2])
  })

  it("maybeAppend commits up to min(leader commit, last new entry)", () => {
    const log = logWith([1, 1, 1, 1, 1])
    expect(log.maybeAppend(2, 1, 10, [])).toBe(2)
    expect(log.committed).toBe(2)
    expect(log.maybeAppend(3, 1, 10, ents(4, [1]))).toBe(4)
    expect(log.committed).toBe(4)
    expect(log.maybeAppend(1, 1, 3, [])).toBe(1)
    expect(log.committed).toBe(4) // never backwards
  })

  it("maybeCommit commits only an entry of the given (current) term", () => {
    const log = logWith([1, 1, 2, 2, 3])
    expect(log.maybeCommit(4, 3)).toBe(false)
    expect(log.committed).toBe(0)
    expect(log.maybeCommit(5, 3)).toBe(true)
    expect(log.committed).toBe(5)
    expect(log.maybeCommit(4, 2)).toBe(false) // not beyond
  })

  it("findConflictByTerm: the last index at or below `index` whose term is at most `term`", () => {
    const log = logWith([1, 1, 2, 2, 4, 4, 4])
    expect(log.findConflictByTerm(7, 3)).toEqual({ index: 4, term: 2 })
    expect(log.findConflictByTerm(7, 4)).toEqual({ index: 7, term: 4 })
    expect(log.findConflictByTerm(5, 1)).toEqual({ index: 2, term: 1 })
    expect(log.findConflictByTerm(7, 0)).toEqual({ index: 0, term: 0 })
    // Below a compacted prefix the term is unknown: the hint stops there.
    const s = new MemoryStorage()
    s.append(ents(1, [1, 1, 2, 2, 4, 4, 4]))
    s.compact(3)
    const compacted = new RaftLog(s, Number.POSITIVE_INFINITY)
    expect(compacted.findConflictByTerm(7, 1)).toEqual({ index: 2, term: 0 })
  })

  it("slices across storage and the unstable tail, within a byte budget, and reports compaction", () => {
    const s = new MemoryStorage()
    s.append([ent(1, 1, "aaaa"), ent(2, 1, "bbbb"), ent(3, 1, "cccc")])
    const log = new RaftLog(s, Number.POSITIVE_INFINITY)
    log.append([ent(4, 2, "dddd"), ent(5, 2, "eeee")])
    expect(log.slice(2, 6, Number.POSITIVE_INFINITY)!.map((e) => e.index)).toEqual([2, 3, 4, 5])
    // Each entry weighs 4 bytes + 24 overhead: 60 bytes hold two.
    expect(log.slice(2, 6, 60)!.map((e) => e.index)).toEqual([2, 3])
    expect(log.slice(2, 6, 1)!.map((e) => e.index)).toEqual([2]) // always one
    s.compact(2)
    expect(log.slice(1, 3, Number.POSITIVE_INFINITY)).toBeUndefined()
    expect(log.term(2)).toBe(1) // the snapshot point's term is known
    expect(log.term(1)).toBeUndefined()
    expect(log.term(9)).toBeUndefined()
  })

  it("hands committed entries out once, bounded, and not while a snapshot is pending", () => {
    const log = logWith([1, 1, 1, 1])
    log.commitTo(3)
    expect(log.nextCommittedEnts().map((e) => e.index)).toEqual([1, 2, 3])
    log.acceptApplying(3)
    expect(log.hasNextCommittedEnts()).toBe(false)
    expect(log.nextCommittedEnts()).toEqual([])
    log.appliedTo(3)
    log.commitTo(4)
    log.restore(snap(8, 2))
    expect(log.committed).toBe(8)
    expect(log.hasNextCommittedEnts()).toBe(false)
    expect(log.firstIndex()).toBe(9)
    expect(log.lastIndex()).toBe(8)
  })

  it("commitTo never passes the last index", () => {
    const log = logWith([1, 1])
    log.commitTo(10)
    expect(log.committed).toBe(2)
  })

  it("maybeAppend follows the AppendEntries receiver rules (model check)", () => {
    const append = fc.record({
      prevIndex: fc.integer({ min: 0, max: 8 }),
      prevTerm: fc.integer({ min: 0, max: 4 }),
      commit: fc.integer({ min: 0, max: 12 }),
      // Non-decreasing terms, as a leader sends them.
      steps: fc.array(fc.integer({ min: 0, max: 1 }), { maxLength: 5 }),
      base: fc.integer({ min: 1, max: 4 }),
      persist: fc.boolean(),
    })
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1 }), { maxLength: 6 }),
        fc.array(append, { maxLength: 12 }),
        (init, ops) => {
          // The model: terms by index (1-based), the commit index.
          let t = 1
          let model = init.map((d) => (t += d))
          let committed = 0
          const s = new MemoryStorage()
          s.append(model.map((term, i) => ent(i + 1, term)))
          const log = new RaftLog(s, Number.POSITIVE_INFINITY)
          for (const op of ops) {
            let term = op.base
            const es = op.steps.map((d, i) => ent(op.prevIndex + 1 + i, (term += d)))
            const prevOk = op.prevIndex === 0 ? op.prevTerm === 0 : model[op.prevIndex - 1] === op.prevTerm
            let want: number | undefined
            if (op.prevIndex > model.length || !prevOk) want = undefined
            else {
              const conflict = es.find((e) => model[e.index - 1] !== e.term)
              if (conflict !== undefined && conflict.index <= committed) want = undefined
              else {
                if (conflict !== undefined) {
                  model = model.slice(0, conflict.index - 1)
                  for (const e of es) if (e.index >= conflict.index) model.push(e.term)
                }
                want = op.prevIndex + es.length
                committed = Math.max(committed, Math.min(op.commit, want, model.length))
              }
            }
            expect(log.maybeAppend(op.prevIndex, op.prevTerm, op.commit, es)).toBe(want)
            expect(terms(log.allEntries())).toEqual(model)
            expect(log.committed).toBe(committed)
            if (op.persist) {
              // Persist the tail as a runtime would, and acknowledge it.
              const tail = log.unstable.nextEntries()
              log.unstable.acceptInProgress()
              s.append(tail)
              if (tail.length > 0) log.stableTo(tail[tail.length - 1]!.index, tail[tail.length - 1]!.term)
              expect(terms(log.allEntries())).toEqual(model)
            }
          }
        },
      ),
      { numRuns: 500 },
    )
  })
})
