/**
 * One hosted replica: its Raft core, its log mirror, its state machine, its bounded mailbox of
 * proposals and reads, and the callers waiting on it. A `Replica` does no I/O: the engine
 * feeds it, collects its Ready, persists and sends, then hands the Ready back to `finish`.
 *
 * A proposal's caller is answered with the state machine's response once the entry applies at
 * the index and term the leader gave it; if another entry takes that slot, the proposal
 * provably did not take effect and fails with `ProposalFailed` (retry is safe; Proposals.ts).
 * Linearizable reads taken from the mailbox in one round share one ReadIndex request and are
 * answered once the state machine has applied up to the index the leader confirmed
 * (PendingReads.ts).
 *
 * Finishing a Ready (`finish`), in order: install a leader's snapshot, mirror the entries and
 * hard state, apply committed entries and answer their proposals, note confirmed read points,
 * advance the core (campaign when due, follow leadership), serve the reads now applied, detect
 * our own removal, and take a snapshot when enough has been applied.
 */
import { decodeConfChange } from "../raft/ConfChange.js"
import { type GroupId, type NodeId, nodeOfReplica } from "../raft/Ids.js"
import type { RawNode, Ready } from "../raft/RawNode.js"
import {
  type Entry,
  EntryType,
  type Index,
  None,
  type ReplicaId,
  type Snapshot,
  StateType,
} from "../raft/Types.js"
import type { GroupUpdate } from "../storage/LogStore.js"
import type { MailboxItem, Waiter } from "./Mailbox.js"
import { type PendingRead, PendingReads } from "./PendingReads.js"
import { Proposals } from "./Proposals.js"
import type { ReplicaStorage } from "./ReplicaStorage.js"
import { GroupStopped, NotLeader, ProposalFailed, type RuntimeError } from "./RuntimeErrors.js"
import { RuntimeMetrics } from "./RuntimeMetrics.js"
import type { ShardKind } from "./ShardKind.js"
import type { StateMachine } from "./StateMachine.js"

/** What finishing a Ready tells the engine. */
export interface FinishOutcome {
  /** The core's soft state (leader, role) changed: `isLeader` and `leaderNode()` now hold. */
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
  private readonly proposals: Proposals
  private readonly reads = new PendingReads()
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
  readonly readies: { readonly rd: Ready; durable: boolean; readonly at: number }[] = []
  /** The term, leader and role last seen in a Ready (for the election counters). */
  private seenTerm: number
  private seenLead: ReplicaId
  private seenRole: StateType

  constructor(
    readonly groupId: GroupId,
    readonly id: ReplicaId,
    readonly kind: ShardKind,
    readonly raw: RawNode,
    readonly storage: ReplicaStorage,
    readonly sm: StateMachine,
    readonly options: ReplicaOptions,
    private readonly metrics: RuntimeMetrics = new RuntimeMetrics(),
  ) {
    this.isLeader = raw.isLeader
    this.proposals = new Proposals(groupId, metrics)
    this.seenTerm = raw.term
    this.seenLead = raw.leader
    this.seenRole = raw.isLeader ? StateType.Leader : StateType.Follower
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

  /**
   * Moves the mailbox into the core: one batch of proposals, one ReadIndex for all
   * linearizable reads; stale reads are answered at once from the state machine.
   */
  flushMailbox(nowMs?: number): void {
    if (this.mailbox.length === 0) return
    this.idleTicks = 0
    const items = this.mailbox.splice(0)
    const commands: Uint8Array[] = []
    const commandWaiters: Waiter[] = []
    let reads: PendingRead[] | undefined
    for (const item of items) {
      if (item._tag === "Command") {
        commands.push(item.command)
        commandWaiters.push(item.waiter)
      } else if (item.stale) {
        this.answerQuery(item.query, item.waiter)
      } else {
        reads ??= []
        reads.push({ query: item.query, waiter: item.waiter })
      }
    }
    if (commands.length > 0) this.proposeCommands(commands, commandWaiters, nowMs)
    if (reads !== undefined) this.requestReadIndex(reads)
  }

  /** Proposes `commands` as one batch; their callers wait for their entries to apply. */
  private proposeCommands(commands: Uint8Array[], waiters: Waiter[], nowMs: number | undefined): void {
    const r = this.raw.proposeBatch(commands)
    if (r._tag === "Proposed") {
      this.metrics.proposalsAccepted += waiters.length
      for (let i = 0; i < waiters.length; i++) this.proposals.add(r.index + i, r.term, waiters[i]!, nowMs)
    } else {
      this.metrics.proposalsDropped += waiters.length
      const err = r.reason === "NotLeader" || r.reason === "NoLeader" ? this.notLeader() : undefined
      for (const w of waiters) w.fail(err ?? new ProposalFailed({ groupId: this.groupId, reason: r.reason }))
    }
  }

  /** Asks the leader (ourselves) for a read point shared by `reads`. */
  private requestReadIndex(reads: PendingRead[]): void {
    if (!this.isLeader) {
      for (const r of reads) r.waiter.fail(this.notLeader())
      return
    }
    const ctx = this.reads.nextContext()
    const dropped = this.raw.readIndex(ctx)
    if (dropped) for (const r of reads) r.waiter.fail(this.notLeader())
    else this.reads.add(ctx, reads)
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
    this.proposals.add(index, term, waiter)
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
   * advance. MUST be called only after the store acknowledged the write, but for a Ready whose
   * only change is the commit index (Engine's `actsBeforeDurable`, decision 0120).
   * `collectedAt`: when the round that took the Ready was collected (its commit was learnt).
   */
  finish(rd: Ready, nowMs: number, collectedAt: number = nowMs): FinishOutcome {
    if (rd.snapshot !== undefined && !this.installSnapshot(rd.snapshot, nowMs)) return NO_OUTCOME
    const mem = this.storage.mem
    if (rd.entries.length > 0) mem.append(rd.entries)
    if (rd.hardState) mem.setHardState(rd.hardState)
    this.countElections(rd)
    const applied = this.applyCommitted(rd.committedEntries, nowMs, collectedAt)
    if (applied === "stopped") return NO_OUTCOME
    this.reads.confirm(rd.readStates)
    this.advance(rd)
    this.reads.serve(this.raw.appliedIndex, (r) => this.answerQuery(r.query, r.waiter))
    const removed = applied.membershipChanged && this.isRemovedBy(rd.committedEntries)
    this.maybeSnapshot(nowMs)
    return {
      leadershipChanged: rd.softState !== undefined,
      membershipChanged: applied.membershipChanged,
      removed,
    }
  }

  /**
   * Installs a leader's snapshot: into the log mirror (its data cached, not kept), into the
   * state machine; proposals it covers are settled. False when the state machine refused it
   * (the replica stopped).
   */
  private installSnapshot(snapshot: Snapshot, nowMs: number): boolean {
    const mem = this.storage.mem
    const meta = snapshot.metadata
    mem.applySnapshot({ metadata: meta, data: snapshot.data })
    this.confVersion = meta.index
    this.dataBytes = snapshot.data.length
    mem.dropSnapshotData()
    this.storage.cacheData(meta.index, snapshot.data, nowMs + this.options.snapshotCacheMs)
    try {
      this.sm.restore(snapshot.data)
    } catch (e) {
      this.stop(`snapshot ${meta.index} could not be restored: ${String(e)}`)
      return false
    }
    this.proposals.settleCoveredBy(meta)
    return true
  }

  /**
   * Applies committed entries to the state machine in order and answers their proposals.
   * Conf changes are applied by the core (`advance`); here they only move `confVersion`.
   * "stopped" when the state machine failed (the replica stopped).
   */
  private applyCommitted(
    entries: ReadonlyArray<Entry>,
    nowMs: number,
    /** When the round that learnt these entries committed was collected. */
    committedAt: number,
  ): { readonly membershipChanged: boolean } | "stopped" {
    let membershipChanged = false
    for (const e of entries) {
      if (e.type === EntryType.ConfChange) {
        membershipChanged = true
        this.confVersion = e.index
        this.proposals.settle(e, e.data, "superseded", nowMs)
        continue
      }
      let reply: Uint8Array | undefined
      this.dataBytes += e.data.length
      if (e.data.length > 0) {
        try {
          reply = this.sm.apply(e.data, e.index)
        } catch (err) {
          this.stop(`state machine failed to apply entry ${e.index}: ${String(err)}`)
          return "stopped"
        }
      }
      this.proposals.settle(
        e,
        reply ?? new Uint8Array(0),
        "leadership changed before commit",
        nowMs,
        committedAt,
      )
    }
    return { membershipChanged }
  }

  /**
   * Counts new terms, leader changes, elections started (follower → pre-candidate or
   * candidate, or straight to leader) and won (→ leader), as the Readies show them.
   */
  private countElections(rd: Ready): void {
    const m = this.metrics
    if (rd.hardState !== undefined && rd.hardState.term > this.seenTerm) {
      this.seenTerm = rd.hardState.term
      m.termChanges++
    }
    const ss = rd.softState
    if (ss === undefined) return
    if (ss.lead !== this.seenLead) {
      this.seenLead = ss.lead
      m.leaderChanges++
    }
    if (ss.raftState === this.seenRole) return
    const campaigning = ss.raftState === StateType.PreCandidate || ss.raftState === StateType.Candidate
    if ((campaigning || ss.raftState === StateType.Leader) && this.seenRole === StateType.Follower)
      m.electionsStarted++
    if (ss.raftState === StateType.Leader) m.electionsWon++
    this.seenRole = ss.raftState
  }

  /** Hands the Ready back to the core, campaigns when due, and follows leadership. */
  private advance(rd: Ready): void {
    const wasLeader = this.isLeader
    this.raw.advance(rd)
    // The bootstrap configuration must be applied before the core will campaign.
    if (this.campaignPending && this.raw.appliedIndex >= this.raw.commitIndex) {
      this.campaignPending = false
      this.raw.campaign()
    }
    this.isLeader = this.raw.isLeader
    // Leadership lost: reads waiting on our ReadIndex will never be confirmed.
    if (wasLeader && !this.isLeader) this.reads.failUnconfirmed(() => this.notLeader())
  }

  /** After conf changes applied: whether one of `committed` removed this replica from its group. */
  private isRemovedBy(committed: ReadonlyArray<Entry>): boolean {
    const c = this.raw.status().config
    const member =
      c.incoming.includes(this.id) || c.outgoing.includes(this.id) || c.learners.includes(this.id)
    return !member && committed.some((e) => e.type === EntryType.ConfChange && removesSelf(e.data, this.id))
  }

  /** Takes a snapshot of the state machine every `snapshotEntries` applied entries. */
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
    this.proposals.failAll(error)
    this.reads.failAll(error)
  }

  /** Whether callers are waiting on this replica (it must not quiesce). */
  hasWaiters(): boolean {
    return this.mailbox.length > 0 || !this.proposals.isEmpty() || !this.reads.isEmpty()
  }
}

const removesSelf = (data: Uint8Array, self: ReplicaId): boolean => {
  const cc = decodeConfChange(data)
  if (cc === undefined) return false
  // Leaving a joint configuration may drop us as an outgoing voter too.
  return cc.changes.length === 0 || cc.changes.some((c) => c.nodeId === self)
}
