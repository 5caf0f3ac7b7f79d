/**
 * `RawNode`: the public, sans-I/O interface of one Raft replica.
 *
 * Drive it with `tick()`, `step(message)`, `propose(...)`, `proposeConfChange(...)`,
 * `readIndex(...)` and `transferLeader(...)`. Whenever `hasReady()` is true, take the
 * `Ready` with `ready()`, act on it, then acknowledge it with `advance(ready)`.
 *
 * THE READY CONTRACT — for each Ready, in this order:
 *   1. `messages` MAY be sent at once (they are a leader's, which writes its log in parallel).
 *   2. `snapshot` (if any), `entries` and `hardState` MUST be written to stable storage —
 *      durably (fsync) when `mustSync` — BEFORE any of `persistedMessages` is sent and BEFORE
 *      `advance` is called. Entries overwrite any stored suffix from their first index on.
 *   3. `persistedMessages` may then be sent.
 *   4. `snapshot` must be applied to the state machine, then `committedEntries` in order
 *      (a committed entry may be in this Ready's `entries`: persist first, then apply).
 *   5. Each `readStates` request may be served once the state machine has applied up to its
 *      `index`.
 *   6. `advance(ready)`.
 *
 * Readies may be pipelined (as raft-rs's async ready): `ready()` may be called again before
 * earlier Readies are advanced, and each carries only what is new. Readies MUST then be
 * persisted and advanced in the order they were handed out (`number` says which); a later
 * Ready's `persistedMessages` and `committedEntries` may depend on an earlier one's writes.
 * The node may be ticked, stepped and given proposals at any time.
 *
 * Bad input never throws: a malformed or misrouted message, a proposal on a follower or a
 * conf change that cannot apply gets a typed `RaftError` back and changes nothing.
 */
import type { ConfChange } from "./ConfChange.js"
import { ConfChangeType, decodeConfChange, encodeConfChange } from "./ConfChange.js"
import {
  type InvalidConfChange,
  type InvalidMessage,
  invalidConfChange,
  invalidMessage,
  type ProposalDropped,
  type Proposed,
  proposalDropped,
} from "./Errors.js"
import type { ProgressState } from "./Progress.js"
import { Raft, type RaftOptions, type ReadOnlyOption } from "./Raft.js"
import { type Rand, seededRand } from "./Rand.js"
import type { MemoryStorage, Storage } from "./Storage.js"
import { describeConfig, type TrackerConfig } from "./Tracker.js"
import {
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Index,
  isLocalMessage,
  isReplicaId,
  isResponseMessage,
  isWireIndex,
  isWireTerm,
  type Message,
  MessageType,
  None,
  newMessage,
  type ReadState,
  type ReplicaId,
  type Snapshot,
  type SoftState,
  StateType,
} from "./Types.js"

/** Configuration of a replica. Only `id` and `storage` are required. */
export interface Config {
  readonly id: ReplicaId
  readonly storage: Storage
  /** Ticks without hearing from a leader before a follower campaigns (randomized to [n, 2n)). Default 10. */
  readonly electionTick?: number
  /** Ticks between a leader's heartbeats. Default 1; must be less than electionTick. */
  readonly heartbeatTick?: number
  /** The last index the state machine has applied (when it survives restarts). Default: the snapshot's. */
  readonly applied?: Index
  /** Most payload bytes in one MsgApp. Default 256 KiB. */
  readonly maxSizePerMsg?: number
  /** Most bytes of committed entries in one Ready. Default 16 MiB. */
  readonly maxCommittedSizePerReady?: number
  /** Most bytes of uncommitted proposals on a leader (0: unlimited). Default 0. */
  readonly maxUncommittedEntriesSize?: number
  /** MsgApp window per follower. Default 256. */
  readonly maxInflightMsgs?: number
  /** Byte window per follower (0: unlimited). Default 0. */
  readonly maxInflightBytes?: number
  /** Leader steps down when it has not heard from a quorum in an election timeout. Default true. */
  readonly checkQuorum?: boolean
  /** Campaign only after a pre-vote round shows it can win. Default true. */
  readonly preVote?: boolean
  /** "safe" (ReadIndex with a heartbeat round, default) or "lease" (requires checkQuorum). */
  readonly readOnlyOption?: ReadOnlyOption
  /** Lease reads: ticks subtracted from the election timeout to bound clock drift. Default 2. */
  readonly leaseDriftTicks?: number
  /** Snapshot chunk size. Default 256 KiB. */
  readonly maxSnapshotChunkBytes?: number
  /** Snapshot chunks in flight per follower. Default 4. */
  readonly maxInflightSnapshotChunks?: number
  /** A leader that is removed or demoted steps down once the change is applied. Default true. */
  readonly stepDownOnRemoval?: boolean
  /** Election jitter source. Default: seeded from `id`. */
  readonly rand?: Rand
}

/** What the application must persist, send and apply; see the contract above. */
export interface Ready {
  /** 1, 2, 3, ... in the order Readies are handed out (and must be advanced). */
  readonly number: number
  readonly softState: SoftState | undefined
  readonly hardState: HardState | undefined
  readonly readStates: readonly ReadState[]
  readonly entries: readonly Entry[]
  readonly snapshot: Snapshot | undefined
  readonly committedEntries: readonly Entry[]
  readonly messages: readonly Message[]
  readonly persistedMessages: readonly Message[]
  readonly mustSync: boolean
}

export interface ProgressStatus {
  readonly match: Index
  readonly next: Index
  readonly state: ProgressState
  readonly isLearner: boolean
  readonly recentActive: boolean
}

export interface Status {
  readonly id: ReplicaId
  readonly hardState: HardState
  readonly softState: SoftState
  readonly applied: Index
  readonly lastIndex: Index
  readonly leadTransferee: ReplicaId
  readonly config: TrackerConfig
  /** On a leader: every member's replication progress. */
  readonly progress: ReadonlyMap<ReplicaId, ProgressStatus>
}

const resolve = (c: Config): RaftOptions => {
  const electionTick = c.electionTick ?? 10
  const heartbeatTick = c.heartbeatTick ?? 1
  const opts: RaftOptions = {
    id: c.id,
    storage: c.storage,
    electionTick,
    heartbeatTick,
    applied: c.applied ?? 0,
    maxSizePerMsg: c.maxSizePerMsg ?? 256 * 1024,
    maxCommittedSizePerReady: c.maxCommittedSizePerReady ?? 16 * 1024 * 1024,
    maxUncommittedEntriesSize: c.maxUncommittedEntriesSize ?? 0,
    maxInflightMsgs: c.maxInflightMsgs ?? 256,
    maxInflightBytes: c.maxInflightBytes ?? 0,
    checkQuorum: c.checkQuorum ?? true,
    preVote: c.preVote ?? true,
    readOnlyOption: c.readOnlyOption ?? "safe",
    leaseDriftTicks: c.leaseDriftTicks ?? 2,
    maxSnapshotChunkBytes: c.maxSnapshotChunkBytes ?? 256 * 1024,
    maxInflightSnapshotChunks: c.maxInflightSnapshotChunks ?? 4,
    stepDownOnRemoval: c.stepDownOnRemoval ?? true,
    rand: c.rand ?? seededRand(c.id),
  }
  const positive = (n: number) => Number.isSafeInteger(n) && n > 0
  if (!isReplicaId(opts.id)) throw new RangeError(`invalid replica id ${opts.id}`)
  if (!positive(electionTick) || !positive(heartbeatTick) || heartbeatTick >= electionTick) {
    throw new RangeError("heartbeatTick and electionTick must be positive with heartbeatTick < electionTick")
  }
  if (
    !positive(opts.maxInflightMsgs) ||
    !positive(opts.maxSnapshotChunkBytes) ||
    !positive(opts.maxSizePerMsg)
  ) {
    throw new RangeError("maxInflightMsgs, maxSizePerMsg and maxSnapshotChunkBytes must be positive")
  }
  if (opts.readOnlyOption === "lease" && !opts.checkQuorum) {
    throw new RangeError('readOnlyOption "lease" requires checkQuorum')
  }
  if (opts.leaseDriftTicks < 0 || opts.leaseDriftTicks >= electionTick) {
    throw new RangeError("leaseDriftTicks must be in [0, electionTick)")
  }
  return opts
}

const VALID_TYPES = new Set<number>(Object.values(MessageType))
const isIndex = isWireIndex
const isTerm = isWireTerm
// Messages may come from a decoder that lets nulls through: check shapes before reading fields.
const isObject = <T>(x: T): x is NonNullable<T> & object => typeof x === "object" && x !== null

/** Checks a message from the network; undefined when it is well formed. */
export const validateMessage = (m: Message, self: ReplicaId): InvalidMessage | undefined => {
  if (typeof m !== "object" || m === null) return invalidMessage("not a message")
  if (!VALID_TYPES.has(m.type)) return invalidMessage(`unknown message type ${String(m.type)}`)
  if (isLocalMessage(m.type)) return invalidMessage(`local message type ${m.type} from the network`)
  if (!isReplicaId(m.from)) return invalidMessage(`invalid sender ${String(m.from)}`)
  if (m.to !== self) return invalidMessage(`message for ${String(m.to)} delivered to ${self}`)
  if (m.from === self) return invalidMessage(`message from ${self} to itself`)
  if (!isTerm(m.term) || !isTerm(m.logTerm) || !isIndex(m.index) || !isIndex(m.commit)) {
    return invalidMessage("term, logTerm, index and commit must be integers in range (MAX_TERM, MAX_INDEX)")
  }
  if (!isIndex(m.rejectHint) || !isTerm(m.hintTerm) || typeof m.reject !== "boolean") {
    return invalidMessage("malformed reject fields")
  }
  if (m.term === 0 && m.type !== MessageType.ReadIndex && m.type !== MessageType.TransferLeader) {
    return invalidMessage("a network message must carry a term")
  }
  if (!Array.isArray(m.entries)) return invalidMessage("entries must be an array")
  if (m.entries.length > 0) {
    if (m.type !== MessageType.App) return invalidMessage("only MsgApp carries entries")
    let prevTerm = m.logTerm
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i]!
      if (!isObject(e)) return invalidMessage(`entry ${i} is not an entry`)
      if (e.index !== m.index + 1 + i)
        return invalidMessage(`entry ${i} has index ${e.index}, want ${m.index + 1 + i}`)
      if (!isTerm(e.term) || e.term < prevTerm || e.term > m.term) {
        return invalidMessage(`entry ${e.index} has term ${e.term} out of order`)
      }
      if (e.type !== EntryType.Normal && e.type !== EntryType.ConfChange) {
        return invalidMessage(`entry ${e.index} has unknown type`)
      }
      if (!(e.data instanceof Uint8Array)) return invalidMessage(`entry ${e.index} has no data bytes`)
      prevTerm = e.term
    }
  }
  if (m.type === MessageType.Snap) {
    const c = m.snapshot
    if (!isObject(c)) return invalidMessage("MsgSnap without a snapshot chunk")
    if (!(c.data instanceof Uint8Array) || !isIndex(c.offset) || !isIndex(c.totalBytes)) {
      return invalidMessage("malformed snapshot chunk")
    }
    if (c.offset + c.data.length > c.totalBytes)
      return invalidMessage("snapshot chunk runs past its total size")
    const md = c.metadata
    if (!isObject(md) || !isObject(md.confState)) return invalidMessage("snapshot chunk without metadata")
    if (!isIndex(md.index) || md.index === 0 || !isTerm(md.term) || md.term === 0 || md.term > m.term) {
      return invalidMessage("malformed snapshot metadata")
    }
    const cs = md.confState
    for (const ids of [cs.voters, cs.learners, cs.votersOutgoing, cs.learnersNext]) {
      if (!Array.isArray(ids) || !ids.every(isReplicaId))
        return invalidMessage("malformed snapshot ConfState")
    }
  }
  if (m.context !== undefined && !(m.context instanceof Uint8Array))
    return invalidMessage("context must be bytes")
  if (
    (m.type === MessageType.ReadIndex || m.type === MessageType.ReadIndexResp) &&
    !(m.context instanceof Uint8Array && m.context.length > 0)
  ) {
    return invalidMessage("ReadIndex messages need a non-empty context")
  }
  return undefined
}

const softStateEqual = (a: SoftState, b: SoftState) => a.lead === b.lead && a.raftState === b.raftState

export class RawNode {
  private readonly raft: Raft
  private prevSoftState: SoftState
  private prevHardState: HardState
  /** Number of the last Ready handed out, and of the last one advanced. */
  private lastReady = 0
  private lastAdvanced = 0

  private constructor(raft: Raft) {
    this.raft = raft
    this.prevSoftState = { lead: raft.lead, raftState: raft.state }
    this.prevHardState = { term: raft.term, vote: raft.vote, commit: raft.log.committed }
  }

  /**
   * Creates (or restarts) a replica from what `config.storage` holds. Throws RangeError on an
   * invalid configuration or storage whose hard state contradicts its log (a bug or corruption).
   */
  static create(config: Config): RawNode {
    return new RawNode(new Raft(resolve(config)))
  }

  /**
   * Bootstraps a brand-new group on every initial member alike: the initial members become
   * committed conf-change entries 1..n at term 1, so replicas added later learn them from
   * the log. Refused unless the storage is empty.
   */
  static bootstrap(
    config: Config & { readonly storage: MemoryStorage | Storage },
    members: { readonly voters: readonly ReplicaId[]; readonly learners?: readonly ReplicaId[] },
  ): RawNode | InvalidConfChange {
    const s = config.storage
    const hs = s.initialState().hardState
    if (s.lastIndex() !== 0 || hs.term !== 0 || hs.vote !== None) {
      return invalidConfChange("storage is not empty: cannot bootstrap")
    }
    if (members.voters.length === 0) return invalidConfChange("bootstrap needs at least one voter")
    const all = [...members.voters, ...(members.learners ?? [])]
    if (!all.every(isReplicaId) || new Set(all).size !== all.length) {
      return invalidConfChange("bootstrap members must be distinct replica ids")
    }
    const node = RawNode.create(config)
    const r = node.raft
    r.becomeFollower(1, None)
    const changes = [
      ...members.voters.map((nodeId) => ({ type: ConfChangeType.AddNode, nodeId })),
      ...(members.learners ?? []).map((nodeId) => ({ type: ConfChangeType.AddLearner, nodeId })),
    ]
    const ents: Entry[] = changes.map((c, i) => ({
      term: 1,
      index: i + 1,
      type: EntryType.ConfChange,
      data: encodeConfChange({ transition: 0, changes: [c], context: new Uint8Array(0) }),
    }))
    r.log.append(ents)
    r.log.committed = ents.length
    for (const c of changes) r.applyConfChange({ transition: 0, changes: [c], context: new Uint8Array(0) })
    return node
  }

  /** Advances logical time by one tick. */
  tick(): void {
    this.raft.tick()
  }

  /** Starts an election now (tests, or an operator forcing one). */
  campaign(): void {
    this.raft.hup(this.raft.opts.preVote ? "pre-election" : "election")
  }

  /** Proposes one command. On a leader, the result names the index and term it will commit at. */
  propose(data: Uint8Array): Proposed | ProposalDropped {
    return this.raft.propose([data])
  }

  /** Proposes several commands as consecutive entries, starting at the result's index. */
  proposeBatch(datas: readonly Uint8Array[]): Proposed | ProposalDropped {
    if (datas.length === 0) return proposalDropped("NotLeader", this.raft.lead)
    return this.raft.propose(datas)
  }

  /** Proposes a membership change (one at a time; joint when it changes several voters). */
  proposeConfChange(cc: ConfChange): Proposed | ProposalDropped | InvalidConfChange {
    if (!Array.isArray(cc.changes)) return invalidConfChange("changes must be an array")
    for (const c of cc.changes) {
      if (!isReplicaId(c.nodeId)) return invalidConfChange(`invalid replica id ${String(c.nodeId)}`)
      if (
        c.type !== ConfChangeType.AddNode &&
        c.type !== ConfChangeType.RemoveNode &&
        c.type !== ConfChangeType.AddLearner
      ) {
        return invalidConfChange(`unknown change type ${String(c.type)}`)
      }
    }
    if (cc.transition !== 0 && cc.transition !== 1 && cc.transition !== 2) {
      return invalidConfChange(`unknown transition ${String(cc.transition)}`)
    }
    if (!(cc.context instanceof Uint8Array)) return invalidConfChange("context must be bytes")
    return this.raft.proposeConfChange(cc)
  }

  /** Feeds a message from another replica. */
  step(m: Message): InvalidMessage | undefined {
    const bad = validateMessage(m, this.raft.id)
    if (bad) return bad
    if (
      isResponseMessage(m.type) &&
      !this.raft.prs.progress.has(m.from) &&
      m.type !== MessageType.ReadIndexResp
    ) {
      // A response from a replica outside the configuration tells us nothing.
      return invalidMessage(`response from ${m.from}, which is not a member`)
    }
    this.raft.step(m)
    return undefined
  }

  /**
   * Requests a linearizable read point for `context` (a unique request id). The answer comes
   * as a `ReadState` in a later Ready; on a follower the request is forwarded to the leader.
   */
  readIndex(context: Uint8Array): ProposalDropped | undefined {
    if (!(context instanceof Uint8Array) || context.length === 0) return proposalDropped("NoLeader", None)
    if (this.raft.lead === None) return proposalDropped("NoLeader", None)
    this.raft.step(newMessage({ type: MessageType.ReadIndex, context }))
    return undefined
  }

  /**
   * Asks the leader to hand leadership to `transferee`. On the leader it starts the transfer;
   * on a follower only a transfer to this replica is forwarded to the leader (a forwarded
   * message is from this replica, as every message a node sends must be): a transfer to a
   * third replica is refused with NotLeader, to be asked of the leader.
   */
  transferLeader(transferee: ReplicaId): ProposalDropped | undefined {
    if (!isReplicaId(transferee)) return proposalDropped("NotAMember", this.raft.lead)
    if (this.raft.lead === None) return proposalDropped("NoLeader", None)
    if (this.raft.state !== StateType.Leader && transferee !== this.raft.id)
      return proposalDropped("NotLeader", this.raft.lead)
    this.raft.step(newMessage({ type: MessageType.TransferLeader, from: transferee }))
    return undefined
  }

  /** The transport failed to deliver to `id`: replicate to it cautiously (probe). */
  reportUnreachable(id: ReplicaId): void {
    this.raft.step(newMessage({ type: MessageType.Unreachable, from: id }))
  }

  /** The application's snapshot transfer to `id` ended (`ok` false: failed). */
  reportSnapshot(id: ReplicaId, ok: boolean): void {
    this.raft.step(newMessage({ type: MessageType.SnapStatus, from: id, reject: !ok }))
  }

  /**
   * Restarts a quiesced leader's check-quorum round (its activity flags are stale after the
   * group slept); the runtime calls it when it wakes a group.
   */
  wakeQuorumCheck(): void {
    this.raft.resetQuorumActivity()
  }

  /**
   * A follower whose leader is known to be down (the runtime's liveness) forgets it: it votes
   * for a new leader at once instead of honouring the leader's lease for an election timeout.
   */
  forgetLeader(): void {
    this.raft.forgetLeader()
  }

  private softState(): SoftState {
    return { lead: this.raft.lead, raftState: this.raft.state }
  }

  private hardState(): HardState {
    return { term: this.raft.term, vote: this.raft.vote, commit: this.raft.log.committed }
  }

  /** How many Readies have been handed out and not yet advanced. */
  get readiesInFlight(): number {
    return this.lastReady - this.lastAdvanced
  }

  hasReady(): boolean {
    const r = this.raft
    if (r.hasPendingBroadcast()) return true
    if (r.msgs.length > 0 || r.msgsAfterAppend.length > 0 || r.readStates.length > 0) return true
    if (r.log.unstable.hasNextEntries() || r.log.unstable.nextSnapshot() !== undefined) return true
    if (r.log.hasNextCommittedEnts()) return true
    const ph = this.prevHardState
    if (r.term !== ph.term || r.vote !== ph.vote || r.log.committed !== ph.commit) return true
    return !softStateEqual(this.softState(), this.prevSoftState)
  }

  /** Collects what must be persisted, sent and applied. Call `advance` with it when done. */
  ready(): Ready {
    const r = this.raft
    r.flushBroadcast()
    const ss = this.softState()
    const hs = this.hardState()
    const ph = this.prevHardState
    const hardChanged = hs.term !== ph.term || hs.vote !== ph.vote || hs.commit !== ph.commit
    const entries = r.log.unstable.nextEntries()
    const snapshot = r.log.unstable.nextSnapshot()
    const committedEntries = r.log.nextCommittedEnts()
    const rd: Ready = {
      number: ++this.lastReady,
      softState: softStateEqual(ss, this.prevSoftState) ? undefined : ss,
      hardState: hardChanged ? hs : undefined,
      readStates: r.readStates,
      entries,
      snapshot,
      committedEntries,
      messages: r.msgs,
      persistedMessages: r.msgsAfterAppend,
      mustSync: hs.term !== ph.term || hs.vote !== ph.vote || entries.length > 0 || snapshot !== undefined,
    }
    r.msgs = []
    r.msgsAfterAppend = []
    r.readStates = []
    r.log.unstable.acceptInProgress()
    if (committedEntries.length > 0) {
      r.log.acceptApplying(committedEntries[committedEntries.length - 1]!.index)
      r.reduceUncommittedSize(committedEntries)
    }
    if (rd.softState) this.prevSoftState = ss
    if (rd.hardState) this.prevHardState = hs
    return rd
  }

  /** Acknowledges a Ready: its state is durable, its messages sent, its entries applied. */
  advance(rd: Ready): void {
    if (rd.number !== this.lastAdvanced + 1) {
      throw new Error(
        `RawNode.advance(): Ready ${rd.number} advanced out of order (expected ${this.lastAdvanced + 1})`,
      )
    }
    this.lastAdvanced = rd.number
    const r = this.raft
    if (rd.snapshot) {
      r.log.stableSnapTo(rd.snapshot.metadata.index)
      r.log.appliedTo(rd.snapshot.metadata.index)
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!
      r.log.stableTo(last.index, last.term)
      r.onPersisted(last.index, last.term)
    }
    if (rd.committedEntries.length > 0) {
      for (const e of rd.committedEntries) {
        if (e.type !== EntryType.ConfChange) continue
        const cc = decodeConfChange(e.data)
        if (cc) r.applyConfChange(cc)
        else r.lastConfChangeError = invalidConfChange(`malformed conf change at index ${e.index}`)
      }
      r.log.appliedTo(rd.committedEntries[rd.committedEntries.length - 1]!.index)
      r.maybeAutoLeave()
    }
  }

  /** The current configuration as a ConfState (to store with a snapshot). */
  confState(): ConfState {
    return this.raft.prs.confState()
  }

  /** Every member of the configuration (voters, learners, outgoing voters), in no order. */
  members(): IterableIterator<ReplicaId> {
    return this.raft.prs.progress.keys()
  }

  /** The latest conf change that committed but could not apply (every replica skips it alike). */
  lastConfChangeError(): InvalidConfChange | undefined {
    return this.raft.lastConfChangeError
  }

  get id(): ReplicaId {
    return this.raft.id
  }

  get isLeader(): boolean {
    return this.raft.state === StateType.Leader
  }

  get leader(): ReplicaId {
    return this.raft.lead
  }

  get term(): number {
    return this.raft.term
  }

  /** The last index in the log (stable or not). */
  get lastIndex(): Index {
    return this.raft.log.lastIndex()
  }

  /** The commit index. */
  get commitIndex(): Index {
    return this.raft.log.committed
  }

  /** The applied index (as acknowledged by `advance`). */
  get appliedIndex(): Index {
    return this.raft.log.applied
  }

  status(): Status {
    const r = this.raft
    const progress = new Map<ReplicaId, ProgressStatus>()
    if (r.state === StateType.Leader) {
      for (const [id, pr] of r.prs.progress) {
        progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          isLearner: pr.isLearner,
          recentActive: pr.recentActive,
        })
      }
    }
    return {
      id: r.id,
      hardState: this.hardState(),
      softState: this.softState(),
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      leadTransferee: r.leadTransferee,
      config: r.prs.config,
      progress,
    }
  }

  /** A one-line description of the configuration (for logs and scenario files). */
  describeConfig(): string {
    return describeConfig(this.raft.prs.config)
  }

  /** The underlying state machine, for the simulator and scenario tests. */
  get internals(): Raft {
    return this.raft
  }
}
