/**
 * The simulator's safety checker (src/testing/Invariants.ts) fed by hand: a consistent history
 * passes, and each of Raft's safety properties, broken on purpose, is reported under its name.
 * The simulations only ever show it correct runs, so this is where its alarms are tested.
 */
import { describe, expect, it } from "vitest"
import { type Entry, EntryType, ReplicaId, type Term } from "../../src/raft/Types.js"
import { Invariants, InvariantViolation, type TermAt } from "../../src/testing/Invariants.js"

const enc = new TextEncoder()
const r1 = ReplicaId(1)
const r2 = ReplicaId(2)

const entry = (index: number, term: Term, data: string, type: EntryType = EntryType.Normal): Entry => ({
  index,
  term,
  type,
  data: enc.encode(data),
})

/** A log's `termAt` from its entries (index → term). */
const termsOf =
  (ents: ReadonlyArray<Entry>): TermAt =>
  (i) =>
    ents.find((e) => e.index === i)?.term

/** The invariant `f` reports as violated, or undefined when it passes. */
const violated = (f: () => void): string | undefined => {
  try {
    f()
    return undefined
  } catch (e) {
    if (e instanceof InvariantViolation) return e.invariant
    throw e
  }
}

describe("Invariants", () => {
  it("accepts a consistent history: one leader per term, matching logs, the same entries applied", () => {
    const inv = new Invariants()
    const log = [entry(1, 1, ""), entry(2, 1, "a"), entry(3, 2, "b")]
    inv.leaderElected(r1, 1, termsOf([]), 1)
    inv.logAppended(r1, log.slice(0, 2), 0)
    inv.logAppended(r2, log.slice(0, 2), 0)
    inv.committedTo(r1, 1, 2, termsOf(log))
    inv.leaderElected(r1, 1, termsOf(log), 1) // the same leader again
    inv.leaderElected(r2, 2, termsOf(log), 1) // holds every committed entry
    inv.logAppended(r2, log.slice(2), 1)
    inv.logAppended(r1, log.slice(2), 1)
    inv.committedTo(r2, 1, 3, termsOf(log))
    for (const id of [r1, r2]) for (const e of log) inv.entryApplied(id, e)
    expect(inv.appliedCount()).toBe(3)
  })

  it("reports two leaders in one term (election safety)", () => {
    const inv = new Invariants()
    inv.leaderElected(r1, 3, termsOf([]), 1)
    expect(violated(() => inv.leaderElected(r2, 3, termsOf([]), 1))).toBe("election safety")
    expect(violated(() => inv.leaderElected(r2, 4, termsOf([]), 1))).toBeUndefined()
  })

  it("reports two different entries with the same index and term (log matching)", () => {
    for (const other of [entry(2, 1, "b"), entry(2, 1, "a", EntryType.ConfChange)]) {
      const inv = new Invariants()
      inv.logAppended(r1, [entry(1, 1, ""), entry(2, 1, "a")], 0)
      expect(violated(() => inv.logAppended(r2, [other], 1))).toBe("log matching")
    }
  })

  it("reports an entry that follows a different previous term elsewhere (log matching)", () => {
    const inv = new Invariants()
    inv.logAppended(r1, [entry(4, 3, "x")], 2)
    expect(violated(() => inv.logAppended(r2, [entry(4, 3, "x")], 1))).toBe("log matching")
    // An unknown previous term (the entry after a snapshot) is not a contradiction.
    expect(violated(() => inv.logAppended(r2, [entry(4, 3, "x")], undefined))).toBeUndefined()
  })

  it("reports a leader missing an entry committed before its term (leader completeness)", () => {
    const log = [entry(1, 1, ""), entry(2, 1, "a")]
    const inv = new Invariants()
    inv.committedTo(r1, 1, 2, termsOf(log))
    expect(violated(() => inv.leaderElected(r2, 2, termsOf(log.slice(0, 1)), 1))).toBe("leader completeness")
    // A leader whose log starts after the committed index (compacted into a snapshot) is fine.
    expect(violated(() => inv.leaderElected(r2, 3, termsOf([]), 3))).toBeUndefined()
  })

  it("reports an index committed with two terms, or two entries applied at one index (state machine safety)", () => {
    const inv = new Invariants()
    inv.committedTo(r1, 1, 2, termsOf([entry(1, 1, ""), entry(2, 1, "a")]))
    expect(violated(() => inv.committedTo(r2, 1, 2, termsOf([entry(1, 1, ""), entry(2, 2, "a")])))).toBe(
      "state machine safety",
    )
    inv.entryApplied(r1, entry(2, 1, "a"))
    expect(violated(() => inv.entryApplied(r2, entry(2, 1, "b")))).toBe("state machine safety")
    expect(violated(() => inv.entryApplied(r2, entry(2, 1, "a")))).toBeUndefined()
  })
})
