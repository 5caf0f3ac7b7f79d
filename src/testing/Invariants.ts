/**
 * Raft's safety properties (Raft paper, Figure 3), checked incrementally as a simulation runs:
 *
 * - Election safety: at most one leader per term.
 * - Log matching: two logs holding an entry with the same index and term hold the same entry
 *   and agree on everything before it (checked per entry: same data, same previous term).
 * - Leader completeness: a leader's log holds every entry committed before its term.
 * - State machine safety: no two replicas apply different entries at the same index.
 *
 * A violation throws `InvariantViolation`; the simulator adds the seed and the time.
 */
import type { Entry, Index, ReplicaId, Term } from "../raft/Types.js"

export class InvariantViolation extends Error {
  constructor(
    readonly invariant: string,
    detail: string,
  ) {
    super(`${invariant} violated: ${detail}`)
    this.name = "InvariantViolation"
  }
}

const bytesKey = (data: Uint8Array): string => {
  let s = ""
  for (let i = 0; i < data.length; i++) s += String.fromCharCode(data[i]!)
  return s
}

/** Reads a replica's log term at an index (undefined when compacted or absent). */
export type TermAt = (index: Index) => Term | undefined

export class Invariants {
  private readonly leaders = new Map<Term, ReplicaId>()
  private readonly entries = new Map<string, { data: string; type: number; prevTerm: Term | undefined }>()
  /** Committed index → term, as learned from any replica. */
  private readonly committed = new Map<Index, Term>()
  private maxCommitted = 0
  private readonly applied = new Map<Index, string>()
  private readonly checkedLeaderTerms = new Set<string>()

  /** A replica is leader of `term`. */
  leaderElected(id: ReplicaId, term: Term, termAt: TermAt, firstIndex: Index): void {
    const prev = this.leaders.get(term)
    if (prev !== undefined && prev !== id) {
      throw new InvariantViolation("election safety", `term ${term} has two leaders: ${prev} and ${id}`)
    }
    this.leaders.set(term, id)
    const key = `${id}@${term}`
    if (this.checkedLeaderTerms.has(key)) return
    this.checkedLeaderTerms.add(key)
    for (let i = firstIndex; i <= this.maxCommitted; i++) {
      const want = this.committed.get(i)
      if (want === undefined) continue
      const got = termAt(i)
      if (got !== want) {
        throw new InvariantViolation(
          "leader completeness",
          `leader ${id} of term ${term} has term ${got} at committed index ${i} (committed with term ${want})`,
        )
      }
    }
  }

  /** A replica's log now holds `ents` (contiguous), the first following an entry of `prevTerm`. */
  logAppended(id: ReplicaId, ents: readonly Entry[], prevTerm: Term | undefined): void {
    let pt = prevTerm
    for (const e of ents) {
      const key = `${e.index}:${e.term}`
      const data = bytesKey(e.data)
      const seen = this.entries.get(key)
      if (seen === undefined) {
        this.entries.set(key, { data, type: e.type, prevTerm: pt })
      } else {
        if (seen.data !== data || seen.type !== e.type) {
          throw new InvariantViolation(
            "log matching",
            `replica ${id} holds a different entry at index ${e.index} term ${e.term}`,
          )
        }
        if (seen.prevTerm !== undefined && pt !== undefined && seen.prevTerm !== pt) {
          throw new InvariantViolation(
            "log matching",
            `replica ${id}: entry ${e.index}@${e.term} follows term ${pt}, elsewhere term ${seen.prevTerm}`,
          )
        }
      }
      pt = e.term
    }
  }

  /** A replica reports entries up to `commit` committed; `termAt` reads its log. */
  committedTo(id: ReplicaId, from: Index, commit: Index, termAt: TermAt): void {
    for (let i = from; i <= commit; i++) {
      const t = termAt(i)
      if (t === undefined) continue
      const prev = this.committed.get(i)
      if (prev !== undefined && prev !== t) {
        throw new InvariantViolation(
          "state machine safety",
          `index ${i} committed with term ${prev} and, on replica ${id}, with term ${t}`,
        )
      }
      this.committed.set(i, t)
    }
    if (commit > this.maxCommitted) this.maxCommitted = commit
  }

  /** A replica applies `e`. */
  entryApplied(id: ReplicaId, e: Entry): void {
    const data = `${e.term}:${bytesKey(e.data)}`
    const prev = this.applied.get(e.index)
    if (prev === undefined) this.applied.set(e.index, data)
    else if (prev !== data) {
      throw new InvariantViolation(
        "state machine safety",
        `replica ${id} applied a different entry at index ${e.index}`,
      )
    }
  }

  /** How many indexes some replica has applied (for progress assertions). */
  appliedCount(): number {
    return this.applied.size
  }
}
