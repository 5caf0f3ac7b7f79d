import { describe, expect, it } from "vitest"
import { type Entry, EntryType, emptyConfState } from "../../src/raft/Types.js"
import type { Waiter } from "../../src/runtime/Mailbox.js"
import { PendingReads } from "../../src/runtime/PendingReads.js"
import { Proposals } from "../../src/runtime/Proposals.js"
import { NodeStopping, NotLeader, type RuntimeError } from "../../src/runtime/RuntimeErrors.js"

/** A waiter that records how it was answered. */
const recorder = () => {
  const answers: Array<{ readonly ok: Uint8Array } | { readonly err: RuntimeError }> = []
  const waiter: Waiter = { succeed: (ok) => answers.push({ ok }), fail: (err) => answers.push({ err }) }
  const tag = () => {
    const a = answers[0]
    return a === undefined ? "waiting" : "ok" in a ? "ok" : a.err._tag
  }
  return { waiter, answers, tag }
}

const entry = (index: number, term: number): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: new Uint8Array([index]),
})

describe("Proposals", () => {
  it("answers a proposal when its entry applies in its term, and fails it when another term took the slot", () => {
    const p = new Proposals(7)
    const won = recorder()
    const lost = recorder()
    p.add(1, 2, won.waiter)
    p.add(2, 2, lost.waiter)
    p.settle(entry(1, 2), new Uint8Array([42]), "lost")
    p.settle(entry(2, 3), new Uint8Array([43]), "lost")
    expect(won.answers).toEqual([{ ok: new Uint8Array([42]) }])
    expect(lost.tag()).toBe("ProposalFailed")
    expect(p.isEmpty()).toBe(true)
  })

  it("settles the proposals a snapshot covers: a later term provably lost its slot, otherwise the outcome is unknown", () => {
    const p = new Proposals(7)
    const sameTerm = recorder()
    const laterTerm = recorder()
    const above = recorder()
    p.add(3, 4, sameTerm.waiter)
    p.add(4, 6, laterTerm.waiter)
    p.add(9, 6, above.waiter)
    p.settleCoveredBy({ index: 5, term: 5, confState: emptyConfState })
    expect(sameTerm.tag()).toBe("OutcomeUnknown")
    expect(laterTerm.tag()).toBe("ProposalFailed")
    expect(above.tag()).toBe("waiting")
    p.failAll(new NodeStopping({ nodeId: 1 }))
    expect(above.tag()).toBe("NodeStopping")
    expect(p.isEmpty()).toBe(true)
  })
})

describe("PendingReads", () => {
  it("serves a batch once its read point is confirmed and applied; leadership lost fails only unconfirmed ones", () => {
    const reads = new PendingReads()
    const early = recorder()
    const late = recorder()
    const ctxEarly = reads.nextContext()
    const ctxLate = reads.nextContext()
    reads.add(ctxEarly, [{ query: new Uint8Array([1]), waiter: early.waiter }])
    reads.add(ctxLate, [{ query: new Uint8Array([2]), waiter: late.waiter }])
    const served: number[] = []
    const answer = (r: { readonly query: Uint8Array; readonly waiter: Waiter }) => {
      served.push(r.query[0]!)
      r.waiter.succeed(r.query)
    }
    reads.serve(100, answer)
    expect(served).toEqual([]) // nothing confirmed yet
    reads.confirm([{ index: 10, requestCtx: ctxEarly }])
    reads.serve(9, answer)
    expect(served).toEqual([]) // confirmed, not applied yet
    reads.serve(10, answer)
    expect(served).toEqual([1])
    reads.failUnconfirmed(() => new NotLeader({ groupId: 7 }))
    expect(late.tag()).toBe("NotLeader")
    expect(reads.isEmpty()).toBe(true)
  })
})
