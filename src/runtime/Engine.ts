/**
 * The node engine: drives every hosted replica in rounds, so that costs are paid once per
 * round rather than once per group (DESIGN.md, Node engine):
 *
 *   1. `ingest` inbound Raft messages and flush mailboxes into the cores; `tick` on the beat;
 *   2. `collect` every replica's Ready and every pending snapshot save;
 *   3. (the caller) writes all updates in ONE store batch, synced when any Ready must sync;
 *   4. (the caller) sends every message, ONE publish per destination node per round;
 *   5. `completeWrite`: apply committed entries, answer waiting callers, advance.
 *
 * Rounds are pipelined: a round's write may still be in flight while the next round collects
 * (replicas waiting on it are skipped, the store group-commits concurrent writes); messages
 * that need no persistence leave with the round that produced them, the rest with the first
 * round after their write completed. The engine is synchronous and does no I/O; the node's
 * loop (NodeLoop.ts) runs it in a fiber and performs steps 3 and 4.
 *
 * Idle groups quiesce: a leader whose followers have everything stops ticking after
 * telling them so with a heartbeat marked `QUIESCE_CONTEXT`; any message or request wakes a
 * group, and `nodeDown` wakes the groups led from a node that went silent (docs/decisions).
 */
import { type GroupId, type NodeId, nodeOfReplica } from "../raft/Ids.js"
import { type Config as RaftConfig, RawNode, type Ready } from "../raft/RawNode.js"
import { MemoryStorage } from "../raft/Storage.js"
import {
  type ConfState,
  type Message,
  MessageType,
  None,
  newMessage,
  type ReplicaId,
  type SnapshotChunk,
} from "../raft/Types.js"
import type { GroupUpdate } from "../storage/LogStore.js"
import type { Envelope } from "../transport/Frame.js"
import type { InboundBatch } from "../transport/Transport.js"
import { implausibleFor, mayCreateReplica } from "./InboundCheck.js"
import type { MailboxItem } from "./Mailbox.js"
import { Replica, type ReplicaOptions } from "./Replica.js"
import { ReplicaStorage } from "./ReplicaStorage.js"
import { GroupNotFound, GroupStopped, Overloaded, type RuntimeError } from "./RuntimeErrors.js"
import { RuntimeMetrics } from "./RuntimeMetrics.js"
import type { ShardKind } from "./ShardKind.js"

/** Marks the heartbeat a quiescing leader sends: "stop ticking, I will wake you". */
export const QUIESCE_CONTEXT: Uint8Array = new Uint8Array([0x51, 0x55, 0x49, 0x45]) // "QUIE"

const isQuiesceHeartbeat = (m: Message) =>
  m.type === MessageType.Heartbeat &&
  m.context !== undefined &&
  m.context.length === 4 &&
  m.context[0] === 0x51 &&
  m.context[1] === 0x55 &&
  m.context[2] === 0x49 &&
  m.context[3] === 0x45

/** Refusal lines kept between two drains by the loop. */
const MAX_REFUSALS_KEPT = 64

export interface EngineOptions extends ReplicaOptions {
  readonly nodeId: NodeId
  readonly electionTicks: number
  readonly heartbeatTicks: number
  /** Ticks without new entries before a leader quiesces its group (0: never quiesce). */
  readonly quiesceAfterTicks: number
  /** Extra Raft settings for every replica. */
  readonly raft?: Omit<Partial<RaftConfig>, "id" | "storage" | "electionTick" | "heartbeatTick">
  /** Where the engine and its replicas count (default: a fresh one). */
  readonly metrics?: RuntimeMetrics
}

/** Messages bound for each node, gathered until the next flush (one publish per node). */
export type Outbound = Map<NodeId, Envelope[]>

/** A write in flight: the Readies waiting on it and what it persists. */
export interface WriteRound {
  readonly readies: ReadonlyArray<readonly [Replica, Ready]>
  readonly updates: GroupUpdate[]
  /** Replicas whose snapshot save rides in `updates`. */
  readonly saves: Replica[]
  /** Whether any Ready needs the write synced (`mustSync`); commit-only updates do not. */
  readonly sync: boolean
}

/** Counters for status and tests. */
export interface EngineStats {
  rounds: number
  messagesIn: number
  messagesOut: number
  droppedUnknownGroup: number
  droppedStaleReplica: number
  refusedMessages: number
  /** Messages dropped as implausible for their replica (InboundCheck.ts). */
  droppedImplausible: number
  quiesces: number
  wakes: number
  snapshotsInstalled: number
}

export interface CreateReplicaOptions {
  readonly groupId: GroupId
  readonly replicaId: ReplicaId
  readonly kind: ShardKind
  /** The log as stored (restart), or undefined for a new, empty replica. */
  readonly storage?: MemoryStorage
  /** Bootstrap a brand-new group with these members (every initial member does the same). */
  readonly bootstrap?: { readonly voters: readonly ReplicaId[]; readonly learners?: readonly ReplicaId[] }
}

/** Whether a voter of the configuration lives on `node` (learners do not count for quorum). */
const hasVoterOn = (cs: ConfState, node: NodeId): boolean =>
  cs.voters.some((id) => nodeOfReplica(id) === node) ||
  cs.votersOutgoing.some((id) => nodeOfReplica(id) === node)

/**
 * Whether `r` may act on `rd` (apply, answer, send) before the round's write of it lands: when
 * the only state `rd` changes is the commit index (no entries, snapshot, term or vote: not
 * `mustSync`), nothing of `r` is still being written (so the Readies finish in order), and no
 * message of `rd` acknowledges persisted state. Raft keeps the commit index as volatile state:
 * the committed entries are durable on a quorum already and, here, in our own log, so a leader
 * answers its callers in the round that learns the commit rather than a store write later. The
 * index is still written (unsynced), so that a restart replays less.
 */
const actsBeforeDurable = (r: Replica, rd: Ready): boolean =>
  !rd.mustSync &&
  rd.entries.length === 0 &&
  rd.snapshot === undefined &&
  rd.persistedMessages.length === 0 &&
  r.readies.length === 0

export class Engine {
  readonly replicas = new Map<GroupId, Replica>()
  /** Candidates of a failover (`failOver`) and the ticks they keep asking for votes. */
  private readonly failovers = new Map<Replica, number>()
  /**
   * While true, client work waits in the mailboxes (the loop also skips ticks): the node's loop
   * stood still long enough for its peers to find it silent, and they may be electing new
   * leaders for the groups led here at this moment (docs/decisions/0130; set by `NodeLoop`). Our
   * leaders then send nothing of their own: a proposal's appends or a heartbeat at the old term
   * would win back the followers that forgot us and stall the elections under way. Frames from
   * peers are still taken, so a leader elected meanwhile deposes ours at once and the requests
   * waiting here fail over to it; if no peer moved, our leaders go on after the hold.
   */
  holdClientWork = false
  /** Replicas whose mailbox waits for the hold to end. */
  private readonly held = new Set<Replica>()
  /** Replicas with work for the next round. */
  private readonly dirty = new Set<Replica>()
  /** Replicas that tick (not quiesced). */
  private readonly active = new Set<Replica>()
  /** Replicas to create when their first message arrives (a member being added). */
  private readonly expected = new Map<GroupId, { replicaId: ReplicaId; kind: ShardKind }>()
  /** Leadership changed since the last call to `takeLeadershipChanges`. */
  private readonly leadershipChanged = new Set<Replica>()
  /** Groups whose replica was removed here: their data must be wiped from the store. */
  readonly removals: GroupId[] = []
  /** Groups whose snapshot data a leader needs loaded from the store. */
  readonly snapshotLoads = new Set<GroupId>()
  /** Groups stopped because one of their steps threw, not yet logged (the loop drains it). */
  readonly stopped: Array<{ readonly groupId: GroupId; readonly reason: string }> = []
  /** Messages the engine built itself (quiesce heartbeats), sent with the next round. */
  private extra: Envelope[] = []
  private readonly lastIndexSeen = new WeakMap<Replica, number>()
  readonly stats: EngineStats = {
    rounds: 0,
    messagesIn: 0,
    messagesOut: 0,
    droppedUnknownGroup: 0,
    droppedStaleReplica: 0,
    refusedMessages: 0,
    droppedImplausible: 0,
    quiesces: 0,
    wakes: 0,
    snapshotsInstalled: 0,
  }
  stopping = false
  /**
   * Why the latest inbound messages were dropped or refused, for the loop to log (rate-limited);
   * bounded: the counters are the full record.
   */
  readonly refusals: string[] = []
  readonly metrics: RuntimeMetrics

  constructor(readonly options: EngineOptions) {
    this.metrics = options.metrics ?? new RuntimeMetrics()
  }

  // ---------------------------------------------------------------------------------------
  // Replicas

  /** Creates (or restarts) a replica. Throws RangeError when the stored state is invalid. */
  createReplica(o: CreateReplicaOptions): Replica {
    if (this.replicas.has(o.groupId)) throw new RangeError(`group ${o.groupId} already has a replica here`)
    const mem = o.storage ?? new MemoryStorage()
    // A restarted replica's state machine is restored from its latest snapshot below; the core
    // starts applying right after that snapshot (InitialState.snapshotIndex), not at the first of
    // the entries kept behind it.
    const storage = new ReplicaStorage(mem)
    const config: RaftConfig = {
      ...this.options.raft,
      id: o.replicaId,
      storage,
      electionTick: this.options.electionTicks,
      heartbeatTick: this.options.heartbeatTicks,
    }
    let raw: RawNode
    if (o.bootstrap) {
      const r = RawNode.bootstrap(config, o.bootstrap)
      if ("_tag" in r) throw new RangeError(`group ${o.groupId}: ${r.reason}`)
      raw = r
    } else {
      raw = RawNode.create(config)
    }
    const sm = o.kind.make()
    const snap = mem.snapshot()
    if (!("_tag" in snap) && snap.metadata.index > 0) {
      sm.restore(snap.data)
      mem.dropSnapshotData()
    }
    const replica = new Replica(o.groupId, o.replicaId, o.kind, raw, storage, sm, this.options, this.metrics)
    if (!("_tag" in snap)) {
      replica.confVersion = snap.metadata.index
      replica.dataBytes = snap.data.length
    }
    this.replicas.set(o.groupId, replica)
    this.expected.delete(o.groupId)
    this.active.add(replica)
    this.dirty.add(replica)
    return replica
  }

  /** Lets a replica of `groupId` with id `replicaId` be created when its first message arrives. */
  expect(groupId: GroupId, replicaId: ReplicaId, kind: ShardKind): void {
    if (!this.replicas.has(groupId)) this.expected.set(groupId, { replicaId, kind })
  }

  /** Removes a replica from this node (its data is wiped by the caller via `removals`). */
  destroy(groupId: GroupId, error: RuntimeError): void {
    const r = this.replicas.get(groupId)
    if (r === undefined) return
    this.replicas.delete(groupId)
    this.active.delete(r)
    this.dirty.delete(r)
    r.failAll(error)
    if (r.isLeader) {
      r.isLeader = false
      this.leadershipChanged.add(r)
    }
    this.removals.push(groupId)
  }

  private wake(r: Replica): void {
    if (!r.quiesced) return
    r.quiesced = false
    r.idleTicks = 0
    this.active.add(r)
    this.stats.wakes++
    // A leader's check-quorum flags are stale after sleeping: start a fresh round.
    if (r.isLeader) r.raw.wakeQuorumCheck()
  }

  // ---------------------------------------------------------------------------------------
  // Inputs

  /** Steps inbound Raft messages into their replicas (creating expected ones). */
  ingest(batch: InboundBatch): void {
    for (const env of batch.envelopes) {
      this.stats.messagesIn++
      try {
        this.ingestOne(env)
      } catch (e) {
        // One message, one group: a throw stops that group only (decision 0070).
        const r = this.replicas.get(env.groupId)
        if (r !== undefined) this.stopOnDefect(r, `handling a message from ${env.message.from}`, e)
        else this.stats.droppedUnknownGroup++
      }
    }
  }

  private ingestOne(env: Envelope): void {
    const m = env.message
    let r = this.replicas.get(env.groupId)
    if (r === undefined) {
      const exp = this.expected.get(env.groupId)
      if (exp === undefined || exp.replicaId !== m.to || !mayCreateReplica(m)) {
        this.stats.droppedUnknownGroup++
        return
      }
      r = this.createReplica({ groupId: env.groupId, replicaId: exp.replicaId, kind: exp.kind })
    }
    if (r.stopped !== undefined) return
    if (r.id !== m.to) {
      // A message for another incarnation of the replica (an older or newer id).
      this.stats.droppedStaleReplica++
      return
    }
    const implausible = implausibleFor(r, m, this.options.nodeId)
    if (implausible !== undefined) {
      this.stats.droppedImplausible++
      this.noteRefusal(env.groupId, m, implausible)
      return
    }
    // Answers to our own (quiesce) heartbeats are not activity; anything else wakes the group.
    if (m.type !== MessageType.HeartbeatResp && !isQuiesceHeartbeat(m)) this.wake(r)
    if (m.type === MessageType.Snap && m.snapshot !== undefined) this.countSnapshotChunk(m.snapshot, "in")
    this.dirty.add(r)
    const refused = r.raw.step(m)
    if (refused !== undefined) {
      this.stats.refusedMessages++
      this.noteRefusal(env.groupId, m, refused.reason)
    }
    if (isQuiesceHeartbeat(m) && !r.quiesced) this.maybeQuiesceFollower(r, m)
  }

  private noteRefusal(groupId: GroupId, m: Message, reason: string): void {
    if (this.refusals.length < MAX_REFUSALS_KEPT)
      this.refusals.push(`group ${groupId}: dropped message type ${m.type} from ${m.from}: ${reason}`)
  }

  /**
   * A group's step threw (a bug in its core, its state machine or its data): that replica
   * stops with the reason, its callers get `GroupStopped`, every other group goes on.
   */
  private stopOnDefect(r: Replica, what: string, e: unknown): void {
    const reason = `${what} failed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`
    r.stop(reason)
    this.stopped.push({ groupId: r.groupId, reason })
  }

  private maybeQuiesceFollower(r: Replica, m: Message): void {
    const st = r.raw.status()
    if (r.raw.leader !== m.from || st.hardState.commit !== st.lastIndex || r.hasWaiters()) return
    r.quiesced = true
    this.active.delete(r)
  }

  /** Queues a request for a group's replica; the caller's waiter is answered later. */
  submit(groupId: GroupId, item: MailboxItem): void {
    const r = this.replicas.get(groupId)
    if (r === undefined) {
      item.waiter.fail(new GroupNotFound({ groupId, nodeId: this.options.nodeId }))
      return
    }
    if (r.stopped !== undefined) {
      item.waiter.fail(new GroupStopped({ groupId, reason: r.stopped }))
      return
    }
    if (!r.enqueue(item)) {
      this.metrics.overloaded++
      item.waiter.fail(new Overloaded({ groupId, capacity: this.options.mailboxCapacity }))
      return
    }
    this.wake(r)
    this.dirty.add(r)
  }

  /** Runs `fn` against a group's core (admin: conf changes, transfers) and schedules its Ready. */
  withReplica<T>(groupId: GroupId, fn: (r: Replica) => T): T | undefined {
    const r = this.replicas.get(groupId)
    if (r === undefined || r.stopped !== undefined) return undefined
    this.wake(r)
    const out = fn(r)
    this.dirty.add(r)
    return out
  }

  /** Advances every ticking replica by one tick; leaders that have been idle quiesce instead. */
  tick(): void {
    const q = this.options.quiesceAfterTicks
    for (const r of this.active) {
      if (r.stopped !== undefined) continue
      if (q > 0) {
        const last = r.raw.lastIndex
        if (this.lastIndexSeen.get(r) !== last || r.hasWaiters()) {
          this.lastIndexSeen.set(r, last)
          r.idleTicks = 0
        } else if (++r.idleTicks >= q && r.isLeader && this.maybeQuiesceLeader(r)) {
          continue
        }
      }
      try {
        r.raw.tick()
        this.retryFailover(r)
      } catch (e) {
        this.stopOnDefect(r, "a tick", e)
      }
      this.dirty.add(r)
    }
  }

  /** Quiesces an idle leader whose followers hold everything; true when it did. */
  private maybeQuiesceLeader(r: Replica): boolean {
    if (r.raw.readiesInFlight > 0 || r.pendingSave !== undefined || r.raw.hasReady()) return false
    const st = r.raw.status()
    if (st.leadTransferee !== 0 || st.config.outgoing.length > 0) return false
    const last = st.lastIndex
    if (st.hardState.commit !== last || st.applied !== last) return false
    for (const [id, pr] of st.progress) {
      if (id !== r.id && pr.match !== last) return false
    }
    // Sleep only while check-quorum would pass: a leader that has not heard from a quorum
    // since its last check would otherwise fall asleep still leading, with nothing left to
    // notice that it is cut off (asleep, it never checks again).
    let heard = 0
    for (const id of st.config.incoming)
      if (id === r.id || st.progress.get(id)?.recentActive === true) heard++
    if (heard * 2 <= st.config.incoming.length) return false
    // Every member holds everything: tell them to stop ticking, then stop ourselves.
    for (const id of st.progress.keys()) {
      if (id === r.id) continue
      this.extra.push({
        groupId: r.groupId,
        message: newMessage({
          type: MessageType.Heartbeat,
          to: id,
          from: r.id,
          term: st.hardState.term,
          commit: last,
          context: QUIESCE_CONTEXT,
        }),
      })
    }
    r.quiesced = true
    this.active.delete(r)
    this.dirty.add(r)
    this.stats.quiesces++
    return true
  }

  /**
   * A node went silent: wake the quiesced groups it led so they can elect a new leader, and the
   * quiesced groups led here that have a voter on it, so that their check-quorum runs again.
   * Without the latter, a leader cut off from its followers while asleep kept leading (and
   * serving its group subject) for as long as the partition lasted, since only ticks check
   * the quorum; awake, it steps down after an election timeout if no quorum answers.
   */
  nodeDown(node: NodeId, failOver = true): void {
    for (const r of this.replicas.values()) {
      const ledFromThere = r.leaderNode() === node
      if (failOver && ledFromThere && !r.isLeader) this.failOver(r, node)
      if (!r.quiesced) continue
      if (ledFromThere || (r.isLeader && hasVoterOn(r.raw.confState(), node))) {
        this.wake(r)
        this.dirty.add(r)
      }
    }
  }

  /**
   * A follower whose leader's node went silent (docs/decisions/0079): it forgets the leader, so
   * it votes at once rather than honouring the leader's lease for an election timeout, and one
   * voter of the group not on the silent node (chosen by group id among them, decision 0132)
   * campaigns now rather than when its timer fires; the others keep their timers, so a campaign
   * that fails (a peer that has not yet found the node silent) is retried as before. One
   * candidate, no split vote.
   */
  private failOver(r: Replica, node: NodeId): void {
    r.raw.forgetLeader()
    // One candidate per group, the same on every survivor, spread over the survivors by group
    // id: the groups of a silent node move to all of them, not all to the lowest replica id
    // (one node winning hundreds of elections at once was the slowest part of failover).
    const left = r.raw
      .confState()
      .voters.filter((id) => nodeOfReplica(id) !== node)
      .sort((a, b) => a - b)
    if (left.length > 0 && left[r.groupId % left.length] === r.id) {
      r.raw.campaign()
      this.failovers.set(r, this.options.electionTicks)
    }
    this.dirty.add(r)
  }

  /**
   * A failing-over candidate asks again every other tick while no leader is known: a peer that
   * found the node silent a little later ignored its first pre-vote (the dead leader's lease),
   * and its own election timer would only fire up to 2 × electionTicks later. After electionTicks
   * ticks the timer takes over.
   */
  private retryFailover(r: Replica): void {
    const left = this.failovers.get(r)
    if (left === undefined) return
    if (left <= 0 || r.raw.leader !== None || r.stopped !== undefined) {
      this.failovers.delete(r)
      return
    }
    this.failovers.set(r, left - 1)
    if (left % 2 === 0) r.raw.campaign()
  }

  // ---------------------------------------------------------------------------------------
  // Rounds

  hasWork(): boolean {
    return this.dirty.size > 0 || this.extra.length > 0
  }

  private route(outbound: Outbound, groupId: GroupId, m: Message): void {
    const to = nodeOfReplica(m.to)
    let list = outbound.get(to)
    if (list === undefined) outbound.set(to, (list = []))
    list.push({ groupId, message: m })
    this.stats.messagesOut++
    if (m.type === MessageType.Snap && m.snapshot !== undefined) this.countSnapshotChunk(m.snapshot, "out")
  }

  /** A snapshot chunk sent or received: a snapshot counts at its first chunk, bytes at every one. */
  private countSnapshotChunk(chunk: SnapshotChunk, way: "in" | "out"): void {
    const m = this.metrics
    if (way === "out") {
      if (chunk.offset === 0) m.snapshotsSent++
      m.snapshotBytesSent += chunk.data.length
    } else {
      if (chunk.offset === 0) m.snapshotsReceived++
      m.snapshotBytesReceived += chunk.data.length
    }
  }

  /**
   * Flushes mailboxes into the cores and collects every Ready (steps 1–2). Messages that may go before
   * persistence are added to `outbound` at once (a leader's appends travel while it writes its
   * own log, Raft thesis §10.2.1). A Ready with nothing to persist is finished here; the others
   * come back as a `WriteRound` to persist and then `completeWrite`.
   */
  collect(outbound: Outbound, nowMs: number): WriteRound | undefined {
    this.stats.rounds++
    const readies: [Replica, Ready][] = []
    const updates: GroupUpdate[] = []
    const saves: Replica[] = []
    const free: Replica[] = []
    let sync = false
    const holding = this.holdClientWork
    if (!holding && this.held.size > 0) {
      for (const r of this.held) this.dirty.add(r)
      this.held.clear()
    }
    const dirty = [...this.dirty]
    this.dirty.clear()
    for (const r of dirty) {
      if (r.stopped !== undefined || !this.replicas.has(r.groupId)) continue
      let rd: Ready | undefined
      let u: GroupUpdate | undefined
      try {
        // A follower's requests fail at once (NotLeader): only a leader's would send anything.
        if (!holding || !r.isLeader) r.flushMailbox(nowMs)
        else if (r.mailbox.length > 0) this.held.add(r)
        rd = r.takeReady()
        u = r.toUpdate(rd)
      } catch (e) {
        this.stopOnDefect(r, "collecting its round", e)
        continue
      }
      if (u) updates.push(u)
      if (r.pendingSave !== undefined && !r.saveInFlight) {
        r.saveInFlight = true
        saves.push(r)
        sync = true
      }
      if (rd === undefined) continue
      for (const m of rd.messages) this.route(outbound, r.groupId, m)
      const persists =
        u !== undefined && (u.entries !== undefined || u.snapshot !== undefined || u.hardState !== undefined)
      const early = persists && actsBeforeDurable(r, rd)
      r.readies.push({ rd, durable: !persists || early, at: nowMs })
      if (persists) {
        // An early Ready is written all the same (and stops its replica should that fail).
        readies.push([r, rd])
        if (rd.mustSync) sync = true
      }
      if (!persists || early) free.push(r)
    }
    for (const e of this.extra) this.route(outbound, e.groupId, e.message)
    this.extra = []
    for (const r of free) this.finishDurable(r, nowMs, outbound)
    if (updates.length === 0) return undefined
    return { readies, updates, saves, sync }
  }

  /** The write is durable: send what waited for it, apply and answer (steps 4–5). */
  completeWrite(round: WriteRound, nowMs: number, outbound: Outbound): void {
    for (const r of round.saves) {
      r.pendingSave = undefined
      r.saveInFlight = false
    }
    for (const [r, rd] of round.readies) {
      const entry = r.readies.find((x) => x.rd === rd)
      if (entry) entry.durable = true
    }
    for (const [r] of round.readies) this.finishDurable(r, nowMs, outbound)
  }

  /** Finishes a replica's durable Readies, oldest first, up to the first one still being written. */
  private finishDurable(r: Replica, nowMs: number, outbound: Outbound): void {
    while (r.readies.length > 0 && r.readies[0]!.durable) {
      const { rd, at } = r.readies.shift()!
      if (r.stopped !== undefined || !this.replicas.has(r.groupId)) {
        r.readies.length = 0
        return
      }
      for (const m of rd.persistedMessages) this.route(outbound, r.groupId, m)
      if (rd.snapshot !== undefined) {
        this.stats.snapshotsInstalled++
        this.metrics.snapshotBytesInstalled += rd.snapshot.data.length
      }
      if (rd.committedEntries.length > 0) this.metrics.commitToApplySeconds.observe((nowMs - at) / 1000)
      let outcome: ReturnType<Replica["finish"]>
      try {
        outcome = r.finish(rd, nowMs, at)
      } catch (e) {
        this.stopOnDefect(r, "finishing its round", e)
        return
      }
      if (r.stopped !== undefined) return
      if (outcome.leadershipChanged) this.leadershipChanged.add(r)
      if (outcome.removed) {
        this.destroy(r.groupId, new GroupNotFound({ groupId: r.groupId, nodeId: this.options.nodeId }))
        return
      }
    }
    if (r.storage.loadWanted) this.snapshotLoads.add(r.groupId)
    if (r.raw.hasReady() || (r.pendingSave !== undefined && !r.saveInFlight)) this.dirty.add(r)
  }

  /**
   * The write failed with `reason`: nothing of it is durable. The affected replicas' cores
   * assumed otherwise, so they stop (their callers get `GroupStopped`); a restart of the node
   * reloads them from what the store really holds.
   */
  fail(round: WriteRound, groups: ReadonlySet<GroupId> | "all", reason: string): void {
    for (const [r] of round.readies) {
      if (groups === "all" || groups.has(r.groupId)) r.stop(reason)
    }
    for (const r of round.saves) if (groups === "all" || groups.has(r.groupId)) r.stop(reason)
  }

  /** Replicas whose leadership changed since the last call. */
  takeLeadershipChanges(): Replica[] {
    const out = [...this.leadershipChanged]
    this.leadershipChanged.clear()
    return out
  }

  /** Drops cached snapshot data whose time is up. */
  expireCaches(nowMs: number): void {
    for (const r of this.replicas.values()) r.storage.expireCache(nowMs)
  }

  /** Answers every waiting caller (shutdown). */
  failAll(error: RuntimeError): void {
    for (const r of this.replicas.values()) r.failAll(error)
  }

  activeCount(): number {
    return this.active.size
  }
}
