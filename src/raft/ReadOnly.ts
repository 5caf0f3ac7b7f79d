/**
 * ReadIndex bookkeeping on the leader (Raft thesis §6.4). A read request records the commit
 * index at arrival; the leader then confirms it still leads by a round of heartbeats carrying
 * the request's context; once a quorum acknowledges a context, that request and every
 * request queued before it may be served at their recorded index.
 */
import type { Index, Message, ReplicaId } from "./Types.js"

export interface ReadIndexStatus {
  /** The request as received (its `from` is who asked, its `context` identifies it). */
  readonly req: Message
  readonly index: Index
  readonly acks: Set<ReplicaId>
}

/** A stable string key for a context's bytes. */
export const contextKey = (ctx: Uint8Array): string => {
  let s = ""
  for (let i = 0; i < ctx.length; i++) s += String.fromCharCode(ctx[i]!)
  return s
}

export class ReadOnly {
  private readonly pending = new Map<string, ReadIndexStatus>()
  private queue: string[] = []

  /** Queues a request at `index`; a duplicate context is ignored. */
  addRequest(index: Index, req: Message): void {
    const key = contextKey(req.context!)
    if (this.pending.has(key)) return
    this.pending.set(key, { req, index, acks: new Set() })
    this.queue.push(key)
  }

  /** Records an acknowledgement of `ctx` by `from`; returns who has acknowledged it so far. */
  recvAck(from: ReplicaId, ctx: Uint8Array): ReadonlySet<ReplicaId> | undefined {
    const rs = this.pending.get(contextKey(ctx))
    if (rs === undefined) return undefined
    rs.acks.add(from)
    return rs.acks
  }

  /** Removes and returns the requests up to and including the one with `ctx`. */
  advance(ctx: Uint8Array): ReadIndexStatus[] {
    const key = contextKey(ctx)
    const at = this.queue.indexOf(key)
    if (at < 0) return []
    const released = this.queue.slice(0, at + 1)
    this.queue = this.queue.slice(at + 1)
    const out: ReadIndexStatus[] = []
    for (const k of released) {
      const rs = this.pending.get(k)
      if (rs) {
        out.push(rs)
        this.pending.delete(k)
      }
    }
    return out
  }

  /** The context of the newest pending request (heartbeats carry it). */
  lastPendingContext(): Uint8Array | undefined {
    const key = this.queue[this.queue.length - 1]
    return key === undefined ? undefined : this.pending.get(key)?.req.context
  }

  pendingCount(): number {
    return this.queue.length
  }

  reset(): void {
    this.pending.clear()
    this.queue = []
  }
}
