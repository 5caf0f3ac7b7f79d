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
import type { RuntimeMetrics } from "./RuntimeMetrics.js"

export class Proposals {
  private readonly byIndex = new Map<
    Index,
    { readonly term: number; readonly waiter: Waiter; readonly at: number | undefined }
  >()

  constructor(
    private readonly groupId: number,
    private readonly metrics?: RuntimeMetrics,
  ) {}

  /** Waits for the entry proposed at `index` in `term` (at clock time `at`, ms, when timed). */
  add(index: Index, term: number, waiter: Waiter, at?: number): void {
    this.byIndex.set(index, { term, waiter, at })
  }

  /** Whether any caller waits. */
  isEmpty(): boolean {
    return this.byIndex.size === 0
  }

  /** Entry `e` applied with `reply`: answers the proposal waiting on its index, if any. */
  settle(e: Entry, reply: Uint8Array, lostReason: string, nowMs?: number, committedAt?: number): void {
    const p = this.byIndex.get(e.index)
    if (p === undefined) return
    this.byIndex.delete(e.index)
    if (p.term === e.term) {
      if (p.at !== undefined && nowMs !== undefined) {
        this.metrics?.proposalSeconds.observe((nowMs - p.at) / 1000)
        this.metrics?.proposalToCommitSeconds.observe(((committedAt ?? nowMs) - p.at) / 1000)
      }
      p.waiter.succeed(reply)
    } else {
      if (this.metrics) this.metrics.proposalsFailed++
      p.waiter.fail(new ProposalFailed({ groupId: this.groupId, reason: lostReason }))
    }
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
        if (this.metrics) this.metrics.proposalsFailed++
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
    if (this.metrics) this.metrics.proposalsFailed += this.byIndex.size
    for (const p of this.byIndex.values()) p.waiter.fail(error)
    this.byIndex.clear()
  }
}
