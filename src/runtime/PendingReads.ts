/**
 * A replica's linearizable reads in progress. The reads taken from the mailbox in one round
 * share one ReadIndex request, identified by its context; the leader confirms it with a read
 * state (the commit index at the time of the request), and the reads are answered once the
 * state machine has applied up to that index. Reads not yet confirmed when leadership is lost
 * never will be.
 */
import { contextKey } from "../raft/ReadOnly.js"
import type { Index, ReadState } from "../raft/Types.js"
import type { Waiter } from "./Mailbox.js"
import type { RuntimeError } from "./RuntimeErrors.js"

/** One read: the query for the state machine and its caller. */
export interface PendingRead {
  readonly query: Uint8Array
  readonly waiter: Waiter
  /** Answer with the whole state (SnapshotRead.ts) rather than a query's reply. */
  readonly snapshot?: boolean
}

interface ReadBatch {
  /** The read point, once the leader confirmed it. */
  index: Index | undefined
  readonly reads: PendingRead[]
}

export class PendingReads {
  private readonly batches = new Map<string, ReadBatch>()
  private seq = 0

  /** A fresh ReadIndex request context. */
  nextContext(): Uint8Array {
    const ctx = new Uint8Array(8)
    new DataView(ctx.buffer).setFloat64(0, ++this.seq)
    return ctx
  }

  /** `reads` wait on the ReadIndex request made with `ctx`. */
  add(ctx: Uint8Array, reads: PendingRead[]): void {
    this.batches.set(contextKey(ctx), { index: undefined, reads })
  }

  /** Whether any caller waits. */
  isEmpty(): boolean {
    return this.batches.size === 0
  }

  /** The leader confirmed these requests: their read points are known. */
  confirm(readStates: ReadonlyArray<ReadState>): void {
    for (const rs of readStates) {
      const b = this.batches.get(contextKey(rs.requestCtx))
      if (b) b.index = rs.index
    }
  }

  /** Answers, through `answer`, the reads whose read point is applied. */
  serve(applied: Index, answer: (read: PendingRead) => void): void {
    if (this.batches.size === 0) return
    for (const [key, b] of this.batches) {
      if (b.index === undefined || b.index > applied) continue
      this.batches.delete(key)
      for (const r of b.reads) answer(r)
    }
  }

  /** Leadership lost: the reads not confirmed yet fail with `error`. */
  failUnconfirmed(error: () => RuntimeError): void {
    for (const [key, b] of this.batches) {
      if (b.index !== undefined) continue
      this.batches.delete(key)
      for (const r of b.reads) r.waiter.fail(error())
    }
  }

  /** Answers every waiting caller with `error`. */
  failAll(error: RuntimeError): void {
    for (const b of this.batches.values()) for (const r of b.reads) r.waiter.fail(error)
    this.batches.clear()
  }
}
