/**
 * One hosted replica: its Raft core, its log mirror, its state machine, its bounded mailbox of
 * proposals and reads, and the callers waiting on it. A `Replica` does no I/O: the engine
 * feeds it, collects its Ready, persists and sends, then hands the Ready back to `finish`.
 *
 * A proposal's caller is answered with the state machine's response once the entry applies at
 * the index and term the leader gave it; if another entry takes that slot, the proposal
 * provably did not take effect and fails with `ProposalFailed` (retry is safe). Linear-
 * izable reads drained in one round share one ReadIndex request and are answered once the
 * state machine has applied up to the index the leader confirmed.
 */
import { decodeConfChange } from "../raft/ConfChange.js"
import { type GroupId, type NodeId, nodeOfReplica } from "../raft/Ids.js"
import type { RawNode, Ready } from "../raft/RawNode.js"
import { contextKey } from "../raft/ReadOnly.js"
import { EntryType, type Index, None, type ReplicaId, type Snapshot } from "../raft/Types.js"
import type { GroupUpdate } from "../storage/LogStore.js"
import type { ReplicaStorage } from "./ReplicaStorage.js"
import {
  GroupStopped,
  NotLeader,
  OutcomeUnknown,
  ProposalFailed,
  type RuntimeError,
} from "./RuntimeErrors.js"
import type { ShardKind } from "./ShardKind.js"
import type { StateMachine } from "./StateMachine.js"

/** How a caller is answered (called exactly once). */
export interface Waiter {
  readonly succeed: (reply: Uint8Array) => void
  readonly fail: (error: RuntimeError) => void
}

/** A request in a replica's mailbox. */
export type MailboxItem =
  | { readonly _tag: "Command"; readonly command: Uint8Array; readonly waiter: Waiter }
  | { readonly _tag: "Query"; readonly query: Uint8Array; readonly stale: boolean; readonly waiter: Waiter }

interface ReadBatch {
  index: Index | undefined
  readonly reads: { readonly query: Uint8Array; readonly waiter: Waiter }[]
}

/** What finishing a Ready tells the engine. */
export interface FinishOutcome {
  /** Leadership changed: `isLeader` now holds. */
  readonly leadershipChanged: boolean
  /** A conf change applied: membership (and peer nodes) may have changed. */
  readonly membershipChanged: boolean
  /** This replica is no longer a member of its group. */
  readonly removed: boolean
}

export interface ReplicaOptions {
  readonly mailboxCapacity: number
  /** Take a snapshot after this many entries applied since the last one. */
  readonly snapshotEntries: number
  /** Entries kept in the log behind a snapshot (for followers slightly behind). */
  readonly keepEntries: number
  /** How long snapshot data stays in memory after use. */
  readonly snapshotCacheMs: number
}

const NO_OUTCOME: FinishOutcome = { leadershipChanged: false, membershipChanged: false, removed: false }

export class Replica {
  readonly mailbox: MailboxItem[] = []
  private readonly proposals = new Map<Index, { readonly term: number; readonly waiter: Waiter }>()
  private readonly readBatches = new Map<string, ReadBatch>()
  private readSeq = 0
  /** A snapshot of our own state machine (and compaction) to persist with the next write. */
  pendingSave: { readonly snapshot: Snapshot; readonly compactTo: Index } | undefined
  /**
   * `pendingSave` rides in a write still in flight. Rounds are pipelined, so the next round may
   * collect this replica before that write completes: it must not carry the save again (the
   * store refuses a snapshot that is not newer than the stored one, and the group stopped).
   */
  saveInFlight = false
  isLeader = false
  /** Campaign once everything committed is applied (a freshly bootstrapped first leader). */
  campaignPending = false
  /**
   * Log index of the last configuration change applied (the snapshot's index when the
   * configuration came from a snapshot; 0 for none): the group's configuration version.
   */
  confVersion: Index = 0
  /**
   * Approximate bytes of replicated state: the size of the latest snapshot (taken, installed
   * or restored at start) plus the data of the entries applied since. Reported to placement.
   */
  dataBytes = 0
  quiesced = false
  /** Ticks without any activity (for quiescence). */
  idleTicks = 0
  stopped: string | undefined = undefined
  /**
   * Readies handed out and not yet finished, oldest first; `durable` once their write is done
   * (at once when they persist nothing). They finish strictly in this order.
   */
  readonly readies: { readonly rd: Ready; durable: boolean }[] = []

  constructor(
    readonly groupId: GroupId,
    readonly id: ReplicaId,
    readonly kind: ShardKind,
    readonly raw: RawNode,
    readonly storage: ReplicaStorage,
    readonly sm: StateMachine,
    readonly options: ReplicaOptions,
  ) {
    this.isLeader = raw.isLeader
  }

  /** The node that hosts the leader, when known. */
  leaderNode(): NodeId | undefined {
    const l = this.raw.leader
    return l === None ? undefined : nodeOfReplica(l)
  }

  private notLeader(): NotLeader {
    return new NotLeader({ groupId: this.groupId, leaderHint: this.leaderNode() })
  }

  /** Queues a request; false when the mailbox is full. */
  enqueue(item: MailboxItem): boolean {
    if (this.mailbox.length >= this.options.mailboxCapacity) return false
    this.mailbox.push(item)
    return true
  }

  /** Moves the mailbox into the core: one batch of proposals, one ReadIndex for all reads. */
  drainMailbox(): void {
    if (this.mailbox.length === 0) return
    this.idleTicks = 0
    const items = this.mailbox.splice(0)
    const commands: Uint8Array[] = []
    const commandWaiters: Waiter[] = []
    let batch: ReadBatch | undefined
    for (const item of items) {
      if (item._tag === "Command") {
        commands.push(item.command)
        commandWaiters.push(item.waiter)
      } else if (item.stale) {
        this.answerQuery(item.query, item.waiter)
      } else {
        batch ??= { index: undefined, reads: [] }
        batch.reads.push({ query: item.query, waiter: item.waiter })
      }
    }
    if (commands.length > 0) {
      const r = this.raw.proposeBatch(commands)
      if (r._tag === "Proposed") {
        for (let i = 0; i < commandWaiters.length; i++) {
          this.proposals.set(r.index + i, { term: r.term, waiter: commandWaiters[i]! })
        }
      } else {
        const err = r.reason === "NotLeader" || r.reason === "NoLeader" ? this.notLeader() : undefined
        for (const w of commandWaiters)
          w.fail(err ?? new ProposalFailed({ groupId: this.groupId, reason: r.reason }))
      }
    }
    if (batch !== undefined) {
      if (!this.isLeader) {
        for (const r of batch.reads) r.waiter.fail(this.notLeader())
        return
      }
      const ctx = new Uint8Array(8)
      new DataView(ctx.buffer).setFloat64(0, ++this.readSeq)
      const dropped = this.raw.readIndex(ctx)
      if (dropped) for (const r of batch.reads) r.waiter.fail(this.notLeader())
      else this.readBatches.set(contextKey(ctx), batch)
    }
  }

  private answerQuery(query: Uint8Array, waiter: Waiter): void {
    let reply: Uint8Array
    try {
      reply = this.sm.query(query)
    } catch (e) {
      waiter.fail(
        new GroupStopped({ groupId: this.groupId, reason: `state machine query failed: ${String(e)}` }),
      )
      return
    }
    waiter.succeed(reply)
  }

  /** Answers `waiter` when the entry proposed at `index` in `term` applies (or loses its slot). */
  awaitIndex(index: Index, term: number, waiter: Waiter): void {
    this.proposals.set(index, { term, waiter })
  }

  /**
   * Takes the core's next Ready if it has one. Earlier Readies may still be in flight: they
   * are persisted and finished in order, so each write carries only what is new.
   */
  takeReady(): Ready | undefined {
    if (this.stopped !== undefined || !this.raw.hasReady()) return undefined
    return this.raw.ready()
  }

  /** What the store must persist for `rd` (and any snapshot of our own waiting to be saved). */
  toUpdate(rd: Ready | undefined): GroupUpdate | undefined {
    const save = this.saveInFlight ? undefined : this.pendingSave
    const hasReadyWork =
      rd !== undefined && (rd.snapshot !== undefined || rd.entries.length > 0 || rd.hardState !== undefined)
    if (!hasReadyWork && save === undefined) return undefined
    return {
      groupId: this.groupId,
      snapshot: rd?.snapshot,
      entries: rd !== undefined && rd.entries.length > 0 ? rd.entries : undefined,
      hardState: rd?.hardState,
      savedSnapshot: save?.snapshot,
      compactTo: save?.compactTo,
    }
  }

  /**
   * The Ready's state is durable and its messages are sent: install, apply, answer callers and
   * advance. MUST be called only after the store acknowledged the write.
   */
  finish(rd: Ready, nowMs: number): FinishOutcome {
    const mem = this.storage.mem
    if (rd.snapshot) {
      const meta = rd.snapshot.metadata
      mem.applySnapshot({ metadata: meta, data: rd.snapshot.data })
      this.confVersion = meta.index
      this.dataBytes = rd.snapshot.data.length
      mem.dropSnapshotData()
      this.storage.cacheData(meta.index, rd.snapshot.data, nowMs + this.options.snapshotCacheMs)
      try {
        this.sm.restore(rd.snapshot.data)
      } catch (e) {
        this.stop(`snapshot ${meta.index} could not be restored: ${String(e)}`)
        return NO_OUTCOME
      }
      // Proposals below the snapshot point can no longer be matched against their entries. Terms
      // never decrease along the log, so the committed entry at such an index has a term <= the
      // snapshot's: a proposal of a later term provably lost its slot. Otherwise its fate is
      // unknown here (a proposal replicated before we lost leadership may well have committed),
      // and `ProposalFailed` ("retry is safe") would have made clients apply it twice.
      for (const [index, p] of this.proposals) {
        if (index <= meta.index) {
          this.proposals.delete(index)
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
    if (rd.entries.length > 0) mem.append(rd.entries)
    if (rd.hardState) mem.setHardState(rd.hardState)

    let membershipChanged = false
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.ConfChange) {
        membershipChanged = true
        this.confVersion = e.index
        const p = this.proposals.get(e.index)
        if (p) {
          this.proposals.delete(e.index)
          if (p.term === e.term) p.waiter.succeed(e.data)
          else p.waiter.fail(new ProposalFailed({ groupId: this.groupId, reason: "superseded" }))
        }
        continue
      }
      let reply: Uint8Array | undefined
      this.dataBytes += e.data.length
      if (e.data.length > 0) {
        try {
          reply = this.sm.apply(e.data, e.index)
        } catch (err) {
          this.stop(`state machine failed to apply entry ${e.index}: ${String(err)}`)
          return NO_OUTCOME
        }
      }
      const p = this.proposals.get(e.index)
      if (p === undefined) continue
      this.proposals.delete(e.index)
      if (p.term === e.term) p.waiter.succeed(reply ?? new Uint8Array(0))
      else
        p.waiter.fail(
          new ProposalFailed({ groupId: this.groupId, reason: "leadership changed before commit" }),
        )
    }
    for (const rs of rd.readStates) {
      const b = this.readBatches.get(contextKey(rs.requestCtx))
      if (b) b.index = rs.index
    }
    const wasLeader = this.isLeader
    this.raw.advance(rd)
    // The bootstrap configuration must be applied before the core will campaign.
    if (this.campaignPending && this.raw.appliedIndex >= this.raw.commitIndex) {
      this.campaignPending = false
      this.raw.campaign()
    }
    this.isLeader = this.raw.isLeader
    const leadershipChanged = rd.softState !== undefined && wasLeader !== this.isLeader
    if (wasLeader && !this.isLeader) this.failLeaderWork()
    this.serveReads()
    let removed = false
    if (membershipChanged) {
      const c = this.raw.status().config
      const member =
        c.incoming.includes(this.id) || c.outgoing.includes(this.id) || c.learners.includes(this.id)
      removed =
        !member &&
        rd.committedEntries.some((e) => e.type === EntryType.ConfChange && removesSelf(e.data, this.id))
    }
    this.maybeSnapshot(nowMs)
    return { leadershipChanged: leadershipChanged || rd.softState !== undefined, membershipChanged, removed }
  }

  /** Reads whose read point has been applied. */
  private serveReads(): void {
    if (this.readBatches.size === 0) return
    const applied = this.raw.appliedIndex
    for (const [key, b] of this.readBatches) {
      if (b.index === undefined || b.index > applied) continue
      this.readBatches.delete(key)
      for (const r of b.reads) this.answerQuery(r.query, r.waiter)
    }
  }

  /** Leadership lost: reads waiting on our ReadIndex will never be confirmed. */
  private failLeaderWork(): void {
    for (const [key, b] of this.readBatches) {
      if (b.index !== undefined) continue
      this.readBatches.delete(key)
      for (const r of b.reads) r.waiter.fail(this.notLeader())
    }
  }

  private maybeSnapshot(nowMs: number): void {
    const applied = this.raw.appliedIndex
    const snapIndex = this.storage.snapshotIndex()
    if (applied - snapIndex < this.options.snapshotEntries || this.pendingSave !== undefined) return
    let data: Uint8Array
    try {
      data = this.sm.snapshot()
    } catch (e) {
      this.stop(`state machine snapshot failed: ${String(e)}`)
      return
    }
    const mem = this.storage.mem
    const made = mem.createSnapshot(applied, this.raw.confState(), data)
    if (typeof made !== "object" || !("metadata" in made)) return
    this.dataBytes = data.length
    mem.dropSnapshotData()
    this.storage.cacheData(applied, data, nowMs + this.options.snapshotCacheMs)
    const compactTo = applied - this.options.keepEntries
    if (compactTo > mem.firstIndex()) mem.compact(compactTo)
    this.pendingSave = { snapshot: made, compactTo: Math.max(compactTo, 0) }
  }

  /** Stops the replica for good (this process): every waiting caller gets `GroupStopped`. */
  stop(reason: string): void {
    if (this.stopped !== undefined) return
    this.stopped = reason
    this.failAll(new GroupStopped({ groupId: this.groupId, reason }))
  }

  /** Answers every waiting caller with `error`. */
  failAll(error: RuntimeError): void {
    for (const item of this.mailbox.splice(0)) item.waiter.fail(error)
    for (const p of this.proposals.values()) p.waiter.fail(error)
    this.proposals.clear()
    for (const b of this.readBatches.values()) for (const r of b.reads) r.waiter.fail(error)
    this.readBatches.clear()
  }

  /** Whether callers are waiting on this replica (it must not quiesce). */
  hasWaiters(): boolean {
    return this.mailbox.length > 0 || this.proposals.size > 0 || this.readBatches.size > 0
  }
}

const removesSelf = (data: Uint8Array, self: ReplicaId): boolean => {
  const cc = decodeConfChange(data)
  if (cc === undefined) return false
  // Leaving a joint configuration may drop us as an outgoing voter too.
  return cc.changes.length === 0 || cc.changes.some((c) => c.nodeId === self)
}
