/**
 * The proposals a replica waits on, by log index. A proposal's caller is answered once an
 * entry applies at its index: with the state machine's reply when the entry is of the term the
 * leader gave the proposal, else with `ProposalFailed` (another entry provably took the slot,
 * so retrying is safe). A snapshot covering the index leaves its fate unknown unless the term
 * tells (`settleCoveredBy`).
 */
import type { Entry, Index, SnapshotMetadata } from "../raft/Types.js"
import type { Waiter } from "./Mailbox.js"
import { OutcomeUnknown, ProposalFailed, type RuntimeError } from "./RuntimeErrors.js"

export class Proposals {
  private readonly byIndex = new Map<Index, { readonly term: number; readonly waiter: Waiter }>()

  constructor(private readonly groupId: number) {}

  /** Waits for the entry proposed at `index` in `term`. */
  add(index: Index, term: number, waiter: Waiter): void {
    this.byIndex.set(index, { term, waiter })
  }

  /** Whether any caller waits. */
  isEmpty(): boolean {
    return this.byIndex.size === 0
  }

  /** Entry `e` applied with `reply`: answers the proposal waiting on its index, if any. */
  settle(e: Entry, reply: Uint8Array, lostReason: string): void {
    const p = this.byIndex.get(e.index)
    if (p === undefined) return
    this.byIndex.delete(e.index)
    if (p.term === e.term) p.waiter.succeed(reply)
    else p.waiter.fail(new ProposalFailed({ groupId: this.groupId, reason: lostReason }))
  }

  /**
   * A snapshot up to `meta.index` was installed: proposals at or below it can no longer be
   * matched against their entries. Terms never decrease along the log, so the committed entry
   * at such an index has a term <= the snapshot's: a proposal of a later term provably lost its
   * slot. Otherwise its fate is unknown here (a proposal replicated before we lost leadership
   * may well have committed), and `ProposalFailed` ("retry is safe") would have made clients
   * apply it twice.
   */
  settleCoveredBy(meta: SnapshotMetadata): void {
    for (const [index, p] of this.byIndex) {
      if (index <= meta.index) {
        this.byIndex.delete(index)
        p.waiter.fail(
          p.term > meta.term
            ? new ProposalFailed({
                groupId: this.groupId,
                reason: "its slot went to an earlier term's entry",
              })
            : new OutcomeUnknown({ groupId: this.groupId, reason: "replaced by a snapshot" }),
        )
      }
    }
  }

  /** Answers every waiting caller with `error`. */
  failAll(error: RuntimeError): void {
    for (const p of this.byIndex.values()) p.waiter.fail(error)
    this.byIndex.clear()
  }
}
