/**
 * The Raft state machine of one replica: elections (with pre-vote and check-quorum), log
 * replication (probe / replicate / snapshot, pipelined within a window, fast backtracking),
 * chunked InstallSnapshot, ReadIndex and lease reads, leadership transfer and joint-consensus
 * membership changes. Pure: no I/O, no clock (time is `tick()`), no randomness of its own.
 *
 * `RawNode` wraps it with the Ready/advance contract; use that, not this class, from outside.
 *
 * Persistence rule: a message is queued in `msgs` (may go at once) only when sent by a leader
 * (Raft thesis §10.2.1: the leader writes its log in parallel with replication and counts
 * itself once durable). Every other message waits in `msgsAfterAppend` until the state it
 * depends on (term, vote, entries, snapshot) is durable.
 */
import { type ChangeResult, Changer } from "./Changer.js"
import {
  type ConfChange,
  decodeConfChange,
  encodeConfChange,
  entersJoint,
  isLeaveJoint,
} from "./ConfChange.js"
import {
  type InvalidConfChange,
  invalidConfChange,
  type ProposalDropped,
  type Proposed,
  proposalDropped,
} from "./Errors.js"
import { ProgressState } from "./Progress.js"
import { VoteResult } from "./Quorum.js"
import { RaftLog } from "./RaftLog.js"
import type { Rand } from "./Rand.js"
import { ReadOnly } from "./ReadOnly.js"
import type { Storage } from "./Storage.js"
import { isJoint, ProgressTracker, type TrackerConfig } from "./Tracker.js"
import {
  CAMPAIGN_TRANSFER,
  type ConfState,
  EMPTY_BYTES,
  type Entry,
  EntryType,
  type Index,
  type Message,
  type MessageInit,
  MessageType,
  NO_ENTRIES,
  None,
  newMessage,
  type ReadState,
  type ReplicaId,
  type Snapshot,
  type SnapshotChunk,
  StateType,
  type Term,
} from "./Types.js"

/** How reads are confirmed. `lease` trusts check-quorum's lease instead of a heartbeat round. */
export type ReadOnlyOption = "safe" | "lease"

/** Resolved configuration of a replica (see `Config` in RawNode.ts for the documented defaults). */
export interface RaftOptions {
  readonly id: ReplicaId
  readonly electionTick: number
  readonly heartbeatTick: number
  readonly storage: Storage
  readonly applied: Index
  readonly maxSizePerMsg: number
  readonly maxCommittedSizePerReady: number
  readonly maxUncommittedEntriesSize: number
  readonly maxInflightMsgs: number
  readonly maxInflightBytes: number
  readonly checkQuorum: boolean
  readonly preVote: boolean
  readonly readOnlyOption: ReadOnlyOption
  readonly leaseDriftTicks: number
  readonly maxSnapshotChunkBytes: number
  readonly maxInflightSnapshotChunks: number
  readonly stepDownOnRemoval: boolean
  readonly rand: Rand
}

type CampaignType = "pre-election" | "election" | "transfer"

/** A snapshot being received chunk by chunk from the leader. */
interface SnapshotReceive {
  readonly term: Term
  readonly chunk0: SnapshotChunk
  readonly parts: Uint8Array[]
  received: number
}

/** Builds a tracker configuration from a ConfState; undefined when it is inconsistent. */
export const configFromConfState = (cs: ConfState): TrackerConfig | undefined => {
  const incoming = new Set(cs.voters)
  const outgoing = new Set(cs.votersOutgoing)
  const learners = new Set(cs.learners)
  const learnersNext = new Set(cs.learnersNext)
  for (const id of learners) if (incoming.has(id) || outgoing.has(id)) return undefined
  for (const id of learnersNext) if (!outgoing.has(id) || incoming.has(id)) return undefined
  if (outgoing.size === 0 && (learnersNext.size > 0 || cs.autoLeave)) return undefined
  if (incoming.size === 0 && outgoing.size > 0) return undefined
  return {
    incoming: [...incoming],
    outgoing: [...outgoing],
    learners: [...learners],
    learnersNext: [...learnersNext],
    autoLeave: cs.autoLeave,
  }
}

const payloadSize = (ents: readonly Entry[]): number => {
  let n = 0
  for (const e of ents) n += e.data.length
  return n
}

export class Raft {
  readonly id: ReplicaId
  term: Term = 0
  vote: ReplicaId = None
  readonly log: RaftLog
  readonly prs: ProgressTracker
  state: StateType = StateType.Follower
  isLearner = false
  lead: ReplicaId = None
  /** The replica leadership is being transferred to, if any. */
  leadTransferee: ReplicaId = None
  /** Index of the latest conf change appended; none may be proposed until it is applied. */
  pendingConfIndex: Index = 0
  uncommittedSize = 0
  readonly readOnly = new ReadOnly()
  electionElapsed = 0
  heartbeatElapsed = 0
  randomizedElectionTimeout = 0
  /** Ticks since this replica started: the lease clock. */
  tickCount = 0
  msgs: Message[] = []
  msgsAfterAppend: Message[] = []
  readStates: ReadState[] = []
  /** ReadIndex requests that arrived before this leader committed an entry of its term. */
  pendingReadIndexMessages: Message[] = []
  /** The latest conf change that could not be applied (every replica skips it alike). */
  lastConfChangeError: InvalidConfChange | undefined = undefined

  private needBroadcast = false
  private pendingReadContext: Uint8Array | undefined = undefined
  private snapshotReceive: SnapshotReceive | undefined = undefined

  constructor(readonly opts: RaftOptions) {
    this.id = opts.id
    this.log = new RaftLog(opts.storage, opts.maxCommittedSizePerReady)
    this.prs = new ProgressTracker(opts.maxInflightMsgs, opts.maxInflightBytes)
    const { hardState, confState, snapshotIndex = 0 } = opts.storage.initialState()
    const config = configFromConfState(confState)
    if (config === undefined) throw new RangeError("storage holds an inconsistent ConfState")
    this.adoptConfig(config)
    if (hardState.term !== 0 || hardState.vote !== None || hardState.commit !== 0) {
      if (hardState.commit < this.log.committed || hardState.commit > this.log.lastIndex()) {
        throw new RangeError(
          `hard state commit ${hardState.commit} is out of range [${this.log.committed}, ${this.log.lastIndex()}]`,
        )
      }
      this.log.committed = hardState.commit
      this.term = hardState.term
      this.vote = hardState.vote
    }
    // The configuration is the snapshot's, and so (by default) is the state machine: start
    // applying after the snapshot, even when entries are kept behind it.
    if (snapshotIndex > this.log.applied) {
      if (snapshotIndex > this.log.lastIndex())
        throw new RangeError(`snapshot ${snapshotIndex} is beyond the log`)
      this.log.commitTo(snapshotIndex)
      this.log.appliedTo(snapshotIndex)
    }
    if (opts.applied > 0) {
      if (opts.applied > this.log.committed) throw new RangeError(`applied ${opts.applied} is beyond commit`)
      if (opts.applied < this.log.applied) {
        throw new RangeError(
          `applied ${opts.applied} is below the snapshot ${this.log.applied} the configuration comes from`,
        )
      }
      this.replayConfChanges(this.log.applied + 1, opts.applied)
      this.log.appliedTo(opts.applied)
    }
    this.becomeFollower(this.term, None)
  }

  // ---------------------------------------------------------------------------------------
  // Sending

  private send(init: MessageInit): void {
    const t = init.type
    // One literal shape for every message keeps the hot paths monomorphic.
    const m: Message = {
      type: t,
      to: init.to ?? None,
      // Every message is from this replica (a frame carries only its source node's messages):
      // a follower forwards only a transfer to itself (stepFollower).
      from: this.id,
      // Forwarded ReadIndex / TransferLeader carry no term: the leader treats them as local.
      term: init.term ?? (t === MessageType.ReadIndex || t === MessageType.TransferLeader ? 0 : this.term),
      logTerm: init.logTerm ?? 0,
      index: init.index ?? 0,
      entries: init.entries ?? NO_ENTRIES,
      commit: init.commit ?? 0,
      reject: init.reject ?? false,
      rejectHint: init.rejectHint ?? 0,
      hintTerm: init.hintTerm ?? 0,
      snapshot: init.snapshot,
      context: init.context,
    }
    if (this.state === StateType.Leader) this.msgs.push(m)
    else this.msgsAfterAppend.push(m)
  }

  /** Sends a MsgApp (or a snapshot) to `to` if its flow allows; true when something was sent. */
  private maybeSendAppend(to: ReplicaId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.progress.get(to)
    if (pr === undefined || pr.isPaused()) return false
    const prevIndex = pr.next - 1
    const prevTerm = this.log.term(prevIndex)
    const last = this.log.lastIndex()
    const ents = pr.next <= last ? this.log.slice(pr.next, last + 1, this.opts.maxSizePerMsg) : []
    if (prevTerm === undefined || ents === undefined) return this.maybeSendSnapshot(to)
    if (ents.length === 0 && !sendIfEmpty) return false
    const commit = this.log.committed
    this.send({ type: MessageType.App, to, index: prevIndex, logTerm: prevTerm, entries: ents, commit })
    pr.sentEntries(ents.length, prevIndex + ents.length, payloadSize(ents))
    pr.sentCommit = commit
    return true
  }

  private sendAppend(to: ReplicaId): void {
    this.maybeSendAppend(to, true)
  }

  /** An entry-less MsgApp at `pr.next - 1`, sent even when `pr`'s window is full. */
  private sendEmptyAppend(
    to: ReplicaId,
    pr: NonNullable<ReturnType<ProgressTracker["progress"]["get"]>>,
  ): void {
    const prevIndex = pr.next - 1
    const prevTerm = this.log.term(prevIndex)
    if (prevTerm === undefined) {
      // The window's start has been compacted away since: probe afresh (it sends a snapshot).
      pr.becomeProbe()
      this.sendAppend(to)
      return
    }
    const commit = this.log.committed
    this.send({ type: MessageType.App, to, index: prevIndex, logTerm: prevTerm, commit })
    pr.sentCommit = commit
  }

  private maybeSendSnapshot(to: ReplicaId): boolean {
    const pr = this.prs.progress.get(to)!
    if (!pr.recentActive) return false
    const snap = this.log.snapshot()
    if ("_tag" in snap) return false
    if (snap.metadata.index === 0) return false
    pr.becomeSnapshot(snap)
    this.sendSnapshotChunks(to)
    return true
  }

  /** Sends snapshot chunks to `to` while the chunk window has room. */
  private sendSnapshotChunks(to: ReplicaId): void {
    const tr = this.prs.progress.get(to)?.snapshotTransfer
    if (tr === undefined) return
    const data = tr.snapshot.data
    const chunk = this.opts.maxSnapshotChunkBytes
    const window = chunk * this.opts.maxInflightSnapshotChunks
    while (!tr.sentAll && tr.sentOffset - tr.ackedOffset < window) {
      const offset = tr.sentOffset
      const end = Math.min(offset + chunk, data.length)
      this.send({
        type: MessageType.Snap,
        to,
        snapshot: {
          metadata: tr.snapshot.metadata,
          offset,
          totalBytes: data.length,
          data: data.subarray(offset, end),
        },
      })
      tr.sentOffset = end
      tr.sentAll = end === data.length
    }
  }

  /** Resends a snapshot from the bytes the follower is known to hold. */
  private rewindSnapshot(to: ReplicaId, held: number): void {
    const tr = this.prs.progress.get(to)?.snapshotTransfer
    if (tr === undefined) return
    tr.ackedOffset = Math.min(held, tr.snapshot.data.length)
    tr.sentOffset = tr.ackedOffset
    tr.sentAll = false
    tr.stalledBeats = 0
    this.sendSnapshotChunks(to)
  }

  private sendHeartbeat(to: ReplicaId, context: Uint8Array | undefined): void {
    const pr = this.prs.progress.get(to)!
    // Never tell a follower to commit beyond what it is known to hold.
    const commit = Math.min(pr.match, this.log.committed)
    this.send({ type: MessageType.Heartbeat, to, commit, context })
  }

  private bcastHeartbeat(context: Uint8Array | undefined): void {
    for (const id of this.prs.memberIds()) if (id !== this.id) this.sendHeartbeat(id, context)
  }

  /**
   * Sends what proposals, commit advances and reads of this round need: one MsgApp per
   * follower however many proposals arrived, one heartbeat round however many reads.
   * Called by RawNode before building a Ready.
   */
  flushBroadcast(): void {
    if (this.state !== StateType.Leader) {
      this.needBroadcast = false
      this.pendingReadContext = undefined
      return
    }
    if (this.needBroadcast) {
      this.needBroadcast = false
      const committed = this.log.committed
      for (const id of this.prs.memberIds()) {
        if (id === this.id) continue
        const pr = this.prs.progress.get(id)!
        // Stream as much as the window allows; fall back to an empty MsgApp to carry the commit.
        let sent = false
        for (let i = 0; i < 64 && this.maybeSendAppend(id, false); i++) sent = true
        if (!sent && pr.sentCommit < committed && pr.state !== ProgressState.Snapshot)
          this.maybeSendAppend(id, true)
      }
    }
    if (this.pendingReadContext !== undefined) {
      const ctx = this.pendingReadContext
      this.pendingReadContext = undefined
      this.bcastHeartbeat(ctx)
    }
  }

  hasPendingBroadcast(): boolean {
    return this.state === StateType.Leader && (this.needBroadcast || this.pendingReadContext !== undefined)
  }

  // ---------------------------------------------------------------------------------------
  // State transitions

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.opts.electionTick + this.opts.rand.intn(this.opts.electionTick)
  }

  private reset(term: Term): void {
    if (this.term !== term) {
      this.term = term
      this.vote = None
    }
    this.lead = None
    this.electionElapsed = 0
    this.heartbeatElapsed = 0
    this.resetRandomizedElectionTimeout()
    this.abortLeaderTransfer()
    this.prs.resetVotes()
    const last = this.log.lastIndex()
    const persisted = Math.min(last, this.log.unstable.offset - 1)
    const fresh = new Map<ReplicaId, ReturnType<ProgressTracker["newProgress"]>>()
    for (const [id, old] of this.prs.progress) {
      const pr = this.prs.newProgress(last + 1, old.isLearner)
      if (id === this.id) pr.match = persisted
      fresh.set(id, pr)
    }
    this.prs.setConfig(this.prs.config, fresh)
    this.pendingConfIndex = 0
    this.uncommittedSize = 0
    this.readOnly.reset()
    this.needBroadcast = false
    this.pendingReadContext = undefined
  }

  becomeFollower(term: Term, lead: ReplicaId): void {
    this.reset(term)
    this.lead = lead
    this.state = StateType.Follower
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1)
    this.vote = this.id
    this.state = StateType.Candidate
  }

  private becomePreCandidate(): void {
    // Changes neither term nor vote: a pre-election that fails leaves no trace.
    this.prs.resetVotes()
    this.lead = None
    this.state = StateType.PreCandidate
  }

  private becomeLeader(): void {
    this.reset(this.term)
    this.lead = this.id
    this.state = StateType.Leader
    this.prs.progress.get(this.id)?.becomeReplicate()
    const self = this.prs.progress.get(this.id)
    if (self) {
      self.match = Math.min(this.log.lastIndex(), this.log.unstable.offset - 1)
      // The leader always hears from itself; checkQuorum never clears this flag. Without it the
      // leader does not count itself, and 2 of 3 replicas look like a lost quorum.
      self.recentActive = true
    }
    // Conservative: no conf change until everything in our log is applied.
    this.pendingConfIndex = this.log.lastIndex()
    this.appendEntries([{ term: this.term, index: 0, type: EntryType.Normal, data: EMPTY_BYTES }])
  }

  private promotable(): boolean {
    const pr = this.prs.progress.get(this.id)
    return pr !== undefined && !pr.isLearner && !this.log.hasPendingSnapshot()
  }

  // ---------------------------------------------------------------------------------------
  // Time

  tick(): void {
    this.tickCount++
    if (this.state === StateType.Leader) this.tickHeartbeat()
    else this.tickElection()
  }

  private tickElection(): void {
    this.electionElapsed++
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0
      this.hup(this.opts.preVote ? "pre-election" : "election")
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++
    this.electionElapsed++
    if (this.electionElapsed >= this.opts.electionTick) {
      this.electionElapsed = 0
      if (this.opts.checkQuorum) this.checkQuorum()
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === StateType.Leader && this.leadTransferee !== None) this.abortLeaderTransfer()
    }
    if (this.state !== StateType.Leader) return
    if (this.heartbeatElapsed >= this.opts.heartbeatTick) {
      this.heartbeatElapsed = 0
      this.bcastHeartbeat(undefined)
    }
  }

  private checkQuorum(): void {
    if (!this.prs.quorumActive()) {
      this.becomeFollower(this.term, None)
      return
    }
    for (const [id, pr] of this.prs.progress) if (id !== this.id) pr.recentActive = false
  }

  /**
   * Restarts the leader's check-quorum round as if every member had just been heard from.
   * The runtime calls it when waking a quiesced leader, whose activity flags are stale.
   */
  /**
   * A follower forgets its leader (known to be down from outside Raft): it no longer counts as
   * having heard from a leader recently, so it grants (pre-)votes at once instead of after an
   * election timeout, and it campaigns when its own timer fires. Does nothing in other roles.
   */
  forgetLeader(): void {
    if (this.state !== StateType.Follower || this.lead === None) return
    this.lead = None
  }

  resetQuorumActivity(): void {
    this.electionElapsed = 0
    for (const pr of this.prs.progress.values()) pr.recentActive = true
  }

  // ---------------------------------------------------------------------------------------
  // Elections

  /** Starts an election (or pre-election) unless this replica cannot or should not. */
  hup(t: CampaignType): void {
    if (this.state === StateType.Leader) return
    if (!this.promotable()) return
    if (this.hasUnappliedConfChanges()) return
    this.campaign(t)
  }

  private hasUnappliedConfChanges(): boolean {
    if (this.log.applied >= this.log.committed) return false
    const ents = this.log.slice(this.log.applied + 1, this.log.committed + 1, Number.POSITIVE_INFINITY)
    if (ents === undefined) return false
    for (const e of ents) if (e.type === EntryType.ConfChange) return true
    return false
  }

  private campaign(t: CampaignType): void {
    let term: Term
    let voteType: MessageType
    if (t === "pre-election") {
      this.becomePreCandidate()
      voteType = MessageType.PreVote
      term = this.term + 1
    } else {
      this.becomeCandidate()
      voteType = MessageType.Vote
      term = this.term
    }
    const index = this.log.lastIndex()
    const logTerm = this.log.lastTerm()
    const context = t === "transfer" ? CAMPAIGN_TRANSFER : undefined
    for (const id of this.prs.voterIds()) {
      if (id === this.id) {
        if (this.poll(id, true) === VoteResult.Won) {
          // A single-voter group wins at once.
          if (t === "pre-election") this.campaign("election")
          else this.becomeLeader()
          return
        }
        continue
      }
      this.send({ type: voteType, to: id, term, index, logTerm, context })
    }
  }

  private poll(id: ReplicaId, granted: boolean): VoteResult {
    this.prs.recordVote(id, granted)
    return this.prs.tallyVotes().result
  }

  // ---------------------------------------------------------------------------------------
  // Proposals

  private appendEntries(ents: Entry[]): void {
    let index = this.log.lastIndex()
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i]!
      ents[i] = { term: this.term, index: ++index, type: e.type, data: e.data }
    }
    this.log.append(ents)
    this.needBroadcast = true
  }

  private checkProposal(bytes: number): ProposalDropped | undefined {
    if (this.state !== StateType.Leader)
      return proposalDropped(this.lead === None ? "NoLeader" : "NotLeader", this.lead)
    if (!this.prs.progress.has(this.id)) return proposalDropped("NotAMember", this.lead)
    if (this.leadTransferee !== None) return proposalDropped("LeadershipTransferInProgress", this.lead)
    const max = this.opts.maxUncommittedEntriesSize
    if (max > 0 && this.uncommittedSize > 0 && this.uncommittedSize + bytes > max) {
      return proposalDropped("UncommittedSizeLimit", this.lead)
    }
    return undefined
  }

  /** Appends normal entries (one per item); they occupy consecutive indexes from the result's. */
  propose(datas: readonly Uint8Array[]): Proposed | ProposalDropped {
    let bytes = 0
    for (const d of datas) bytes += d.length
    const dropped = this.checkProposal(bytes)
    if (dropped) return dropped
    const first = this.log.lastIndex() + 1
    const ents: Entry[] = new Array(datas.length)
    for (let i = 0; i < datas.length; i++)
      ents[i] = { term: 0, index: 0, type: EntryType.Normal, data: datas[i]! }
    this.appendEntries(ents)
    this.uncommittedSize += bytes
    return { _tag: "Proposed", index: first, term: this.term }
  }

  /** Validates and appends a configuration change. */
  proposeConfChange(cc: ConfChange): Proposed | ProposalDropped | InvalidConfChange {
    const data = encodeConfChange(cc)
    const dropped = this.checkProposal(data.length)
    if (dropped) return dropped
    if (this.pendingConfIndex > this.log.applied) return proposalDropped("ConfChangeInProgress", this.lead)
    const dryRun = this.changeConfig(cc)
    if ("_tag" in dryRun) return dryRun
    const index = this.log.lastIndex() + 1
    this.appendEntries([{ term: 0, index: 0, type: EntryType.ConfChange, data }])
    this.pendingConfIndex = index
    return { _tag: "Proposed", index, term: this.term }
  }

  /** What applying `cc` to the current configuration gives, without adopting it. */
  private changeConfig(cc: ConfChange): ChangeResult | InvalidConfChange {
    const joint = isJoint(this.prs.config)
    const changer = new Changer(this.prs, this.log.lastIndex())
    if (isLeaveJoint(cc)) {
      if (!joint) return invalidConfChange("not in a joint configuration: nothing to leave")
      return changer.leaveJoint()
    }
    if (joint) return invalidConfChange("in a joint configuration: leave it before another change")
    const seen = new Set<ReplicaId>()
    for (const c of cc.changes) {
      if (seen.has(c.nodeId)) return invalidConfChange(`replica ${c.nodeId} appears twice in one change`)
      seen.add(c.nodeId)
    }
    const { joint: enter, autoLeave } = entersJoint(cc)
    return enter ? changer.enterJoint(autoLeave, cc.changes) : changer.simple(cc.changes)
  }

  /** Applies a committed conf change (RawNode calls this as entries are applied). */
  applyConfChange(cc: ConfChange): void {
    const result = this.changeConfig(cc)
    if ("_tag" in result) {
      this.lastConfChangeError = result
      return
    }
    this.switchToConfig(result)
  }

  private replayConfChanges(from: Index, to: Index): void {
    if (from > to) return
    const ents = this.log.slice(from, to + 1, Number.POSITIVE_INFINITY) ?? []
    for (const e of ents) {
      if (e.type !== EntryType.ConfChange) continue
      const cc = decodeConfChange(e.data)
      if (cc) this.applyConfChange(cc)
      else this.lastConfChangeError = invalidConfChange(`malformed conf change at index ${e.index}`)
    }
  }

  private adoptConfig(config: TrackerConfig): void {
    const last = this.log.lastIndex()
    const progress = new Map<ReplicaId, ReturnType<ProgressTracker["newProgress"]>>()
    for (const id of [...config.incoming, ...config.outgoing, ...config.learners]) {
      if (!progress.has(id)) progress.set(id, this.prs.newProgress(last + 1, false))
    }
    this.prs.setConfig(config, progress)
    this.isLearner = this.prs.progress.get(this.id)?.isLearner ?? false
  }

  private switchToConfig(result: ChangeResult): void {
    this.prs.setConfig(result.config, result.progress)
    const pr = this.prs.progress.get(this.id)
    this.isLearner = pr?.isLearner ?? false
    if ((pr === undefined || this.isLearner) && this.state === StateType.Leader) {
      // Removed or demoted while leading: let the remaining voters elect a leader.
      if (this.opts.stepDownOnRemoval) this.becomeFollower(this.term, None)
      return
    }
    if (this.state !== StateType.Leader || result.config.incoming.length === 0) return
    // The quorum may have changed (commit now possible), and new members need probing.
    if (this.maybeCommit()) this.releasePendingReadIndexMessages()
    this.needBroadcast = true
    if (this.leadTransferee !== None && !this.prs.isVoter(this.leadTransferee)) this.abortLeaderTransfer()
  }

  /** After applying up to `applied`: a leader leaves an auto-leave joint configuration. */
  maybeAutoLeave(): void {
    const c = this.prs.config
    if (this.state !== StateType.Leader || !c.autoLeave || !isJoint(c)) return
    if (this.log.applied < this.pendingConfIndex) return
    const index = this.log.lastIndex() + 1
    this.appendEntries([
      {
        term: 0,
        index: 0,
        type: EntryType.ConfChange,
        data: encodeConfChange({ transition: 0, changes: [], context: EMPTY_BYTES }),
      },
    ])
    this.pendingConfIndex = index
  }

  private maybeCommit(): boolean {
    return this.log.maybeCommit(this.prs.committed(), this.term)
  }

  reduceUncommittedSize(ents: readonly Entry[]): void {
    if (this.uncommittedSize === 0) return
    const s = payloadSize(ents)
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s
  }

  /** Our own entries up to `index` (with `term` there) are durable. */
  onPersisted(index: Index, term: Term): void {
    if (this.state !== StateType.Leader) return
    const pr = this.prs.progress.get(this.id)
    if (pr === undefined || this.log.term(index) !== term) return
    if (pr.maybeUpdate(index) && this.maybeCommit()) {
      this.needBroadcast = true
      this.releasePendingReadIndexMessages()
    }
  }

  // ---------------------------------------------------------------------------------------
  // Leadership transfer

  private abortLeaderTransfer(): void {
    this.leadTransferee = None
  }

  private sendTimeoutNow(to: ReplicaId): void {
    this.send({ type: MessageType.TimeoutNow, to })
  }

  // ---------------------------------------------------------------------------------------
  // Reads

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term
  }

  private leaseValid(): boolean {
    const span = this.opts.electionTick - this.opts.leaseDriftTicks
    return this.prs.quorumHeardTick(this.id, this.tickCount) >= this.tickCount - span
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return
    const msgs = this.pendingReadIndexMessages
    this.pendingReadIndexMessages = []
    for (const m of msgs) this.handleReadIndex(m)
  }

  private respondToRead(req: Message, index: Index): void {
    if (req.from === None || req.from === this.id) {
      this.readStates.push({ index, requestCtx: req.context! })
    } else {
      this.send({ type: MessageType.ReadIndexResp, to: req.from, index, context: req.context })
    }
  }

  private handleReadIndex(m: Message): void {
    if (this.prs.isSingleton()) {
      this.respondToRead(m, this.log.committed)
      return
    }
    if (!this.committedEntryInCurrentTerm()) {
      this.pendingReadIndexMessages.push(m)
      return
    }
    if (this.opts.readOnlyOption === "lease" && this.leaseValid()) {
      this.respondToRead(m, this.log.committed)
      return
    }
    this.readOnly.addRequest(this.log.committed, m)
    this.readOnly.recvAck(this.id, m.context!)
    this.pendingReadContext = m.context
  }

  // ---------------------------------------------------------------------------------------
  // Stepping messages

  /** Feeds one message (validated by RawNode) into the state machine. */
  step(m: Message): void {
    if (m.term === 0) {
      // Local message, or a forwarded ReadIndex / TransferLeader.
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force =
          m.context !== undefined && m.context.length === 1 && m.context[0] === CAMPAIGN_TRANSFER[0]
        const inLease =
          this.opts.checkQuorum && this.lead !== None && this.electionElapsed < this.opts.electionTick
        // Heard from a leader recently: a disruptive (e.g. removed or partitioned) replica is ignored.
        if (!force && inLease) return
      }
      if (m.type === MessageType.PreVote) {
        // A pre-vote never changes our term.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // We bump our term when we win the pre-election, not before.
      } else if (
        m.type === MessageType.App ||
        m.type === MessageType.Heartbeat ||
        m.type === MessageType.Snap
      ) {
        this.becomeFollower(m.term, m.from)
      } else {
        this.becomeFollower(m.term, None)
      }
    } else if (m.term < this.term) {
      if (
        (this.opts.checkQuorum || this.opts.preVote) &&
        (m.type === MessageType.Heartbeat || m.type === MessageType.App)
      ) {
        // A stale leader: our higher term in the answer makes it step down.
        this.send({ type: MessageType.AppResp, to: m.from })
      } else if (m.type === MessageType.PreVote) {
        this.send({ type: MessageType.PreVoteResp, to: m.from, term: this.term, reject: true })
      }
      return
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup(this.opts.preVote ? "pre-election" : "election")
        return
      case MessageType.Vote:
      case MessageType.PreVote: {
        const canVote =
          this.vote === m.from ||
          (this.vote === None && this.lead === None) ||
          (m.type === MessageType.PreVote && m.term > this.term)
        const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp
        if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
          // Answer with the term of the request: a pre-vote grant must not look stale to the asker.
          this.send({ type: respType, to: m.from, term: m.term })
          if (m.type === MessageType.Vote) {
            this.electionElapsed = 0
            this.vote = m.from
          }
        } else {
          this.send({ type: respType, to: m.from, term: this.term, reject: true })
        }
        return
      }
      default:
        if (this.state === StateType.Leader) this.stepLeader(m)
        else if (this.state === StateType.Follower) this.stepFollower(m)
        else this.stepCandidate(m)
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Beat:
        this.bcastHeartbeat(undefined)
        return
      case MessageType.CheckQuorum:
        this.checkQuorum()
        return
      case MessageType.ReadIndex:
        this.handleReadIndex(m)
        return
    }
    const pr = this.prs.progress.get(m.from)
    if (pr === undefined) return
    switch (m.type) {
      case MessageType.AppResp:
        pr.recentActive = true
        pr.lastHeardTick = this.tickCount
        this.handleAppendResponse(m, pr)
        return
      case MessageType.HeartbeatResp: {
        pr.recentActive = true
        pr.lastHeardTick = this.tickCount
        pr.msgAppFlowPaused = false
        if (pr.state === ProgressState.Snapshot) {
          const tr = pr.snapshotTransfer
          // Two heartbeats without a chunk acknowledged: resend from what the follower holds.
          if (tr && ++tr.stalledBeats >= 2) this.rewindSnapshot(m.from, tr.ackedOffset)
        } else if (pr.state === ProgressState.Replicate && pr.inflights.full()) {
          // The whole window may have been lost, and then no answer would ever free it: probe
          // with an empty MsgApp at `next - 1`. Its acknowledgement frees the window; its
          // rejection sends the follower back to probing.
          this.sendEmptyAppend(m.from, pr)
        } else if (pr.match < this.log.lastIndex() || pr.sentCommit < this.log.committed) {
          this.sendAppend(m.from)
        }
        if (m.context !== undefined) this.handleReadAck(m)
        return
      }
      case MessageType.SnapResp: {
        pr.recentActive = true
        pr.lastHeardTick = this.tickCount
        const tr = pr.snapshotTransfer
        if (pr.state !== ProgressState.Snapshot || tr === undefined || pr.pendingSnapshot !== m.index) return
        if (m.reject) {
          this.rewindSnapshot(m.from, m.rejectHint)
          return
        }
        tr.stalledBeats = 0
        if (m.rejectHint > tr.ackedOffset) tr.ackedOffset = Math.min(m.rejectHint, tr.snapshot.data.length)
        this.sendSnapshotChunks(m.from)
        return
      }
      case MessageType.SnapStatus:
        if (pr.state !== ProgressState.Snapshot) return
        if (m.reject) pr.pendingSnapshot = 0
        pr.becomeProbe()
        // Wait for a heartbeat response before probing again.
        pr.msgAppFlowPaused = true
        return
      case MessageType.Unreachable:
        if (pr.state === ProgressState.Replicate) pr.becomeProbe()
        return
      case MessageType.TransferLeader: {
        if (pr.isLearner) return
        const transferee = m.from
        if (this.leadTransferee !== None) {
          if (this.leadTransferee === transferee) return
          this.abortLeaderTransfer()
        }
        if (transferee === this.id) return
        this.leadTransferee = transferee
        this.electionElapsed = 0
        if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(transferee)
        else this.sendAppend(transferee)
        return
      }
    }
  }

  private handleReadAck(m: Message): void {
    const acks = this.readOnly.recvAck(m.from, m.context!)
    if (acks === undefined || !this.isQuorum(acks)) return
    for (const rs of this.readOnly.advance(m.context!)) this.respondToRead(rs.req, rs.index)
  }

  /** Whether `ids` hold a majority of every half of the configuration. */
  private isQuorum(ids: ReadonlySet<ReplicaId>): boolean {
    const c = this.prs.config
    const majority = (voters: readonly ReplicaId[]) => {
      if (voters.length === 0) return true
      let n = 0
      for (const id of voters) if (ids.has(id)) n++
      return n >= Math.floor(voters.length / 2) + 1
    }
    return majority(c.incoming) && majority(c.outgoing)
  }

  private handleAppendResponse(
    m: Message,
    pr: NonNullable<ReturnType<ProgressTracker["progress"]["get"]>>,
  ): void {
    if (m.reject) {
      let nextProbe = m.rejectHint
      if (m.hintTerm > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.hintTerm).index
      if (pr.maybeDecrTo(m.index, nextProbe)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe()
        this.sendAppend(m.from)
      }
      return
    }
    const wasPaused = pr.isPaused()
    // The follower holds the snapshot being sent (it may have said so before, in an answer lost).
    const snapshotHeld = pr.state === ProgressState.Snapshot && m.index >= pr.pendingSnapshot
    if (
      !pr.maybeUpdate(m.index) &&
      !(pr.match === m.index && pr.state === ProgressState.Probe) &&
      !snapshotHeld
    )
      return
    if (pr.state === ProgressState.Probe) {
      pr.becomeReplicate()
    } else if (pr.state === ProgressState.Snapshot) {
      if (pr.match + 1 >= this.log.firstIndex()) {
        pr.becomeProbe()
        pr.becomeReplicate()
      } else if (snapshotHeld) {
        // Our log was compacted past that snapshot while it travelled: probing finds the gap
        // and sends the newer one. Staying would wait forever for an answer beyond it.
        pr.becomeProbe()
      }
    } else {
      pr.inflights.freeLE(m.index)
    }
    if (this.maybeCommit()) {
      this.releasePendingReadIndexMessages()
      this.needBroadcast = true
    } else if (wasPaused || pr.next <= this.log.lastIndex()) {
      for (let i = 0; i < 64 && this.maybeSendAppend(m.from, false); i++) {}
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from)
  }

  private stepCandidate(m: Message): void {
    const myVoteResp = this.state === StateType.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp
    switch (m.type) {
      case MessageType.App:
        this.becomeFollower(m.term, m.from)
        this.handleAppendEntries(m)
        return
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from)
        this.handleHeartbeat(m)
        return
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from)
        this.handleSnapshotChunk(m)
        return
      case myVoteResp: {
        const result = this.poll(m.from, !m.reject)
        if (result === VoteResult.Won) {
          if (this.state === StateType.PreCandidate) this.campaign("election")
          else this.becomeLeader()
        } else if (result === VoteResult.Lost) {
          this.becomeFollower(this.term, None)
        }
        return
      }
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.App:
        this.electionElapsed = 0
        this.lead = m.from
        this.handleAppendEntries(m)
        return
      case MessageType.Heartbeat:
        this.electionElapsed = 0
        this.lead = m.from
        this.handleHeartbeat(m)
        return
      case MessageType.Snap:
        this.electionElapsed = 0
        this.lead = m.from
        this.handleSnapshotChunk(m)
        return
      case MessageType.TransferLeader:
        // Only a transfer to this replica goes on to the leader: forwarding one to another
        // replica would send a message that is not from this node (issue 12, finding 1).
        if (this.lead !== None && m.from === this.id)
          this.send({ type: MessageType.TransferLeader, to: this.lead })
        return
      case MessageType.TimeoutNow:
        // Campaign at once, even within the leader's lease: the leader asked us to.
        this.hup("transfer")
        return
      case MessageType.ReadIndex:
        if (this.lead !== None) this.forwardReadIndex(m)
        return
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, requestCtx: m.context! })
        return
    }
  }

  private forwardReadIndex(m: Message): void {
    const to = this.lead
    const fwd = newMessage({ type: MessageType.ReadIndex, to, from: this.id, term: 0, context: m.context })
    this.msgsAfterAppend.push(fwd)
  }

  private handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ type: MessageType.AppResp, to: m.from, index: this.log.committed })
      return
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries)
    if (lastNew !== undefined) {
      this.send({ type: MessageType.AppResp, to: m.from, index: lastNew })
      return
    }
    // Fast backtracking: tell the leader the last index where our terms are ≤ its prevTerm.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm)
    this.send({
      type: MessageType.AppResp,
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      hintTerm: hint.term,
    })
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()))
    this.send({ type: MessageType.HeartbeatResp, to: m.from, context: m.context })
  }

  private handleSnapshotChunk(m: Message): void {
    const chunk = m.snapshot!
    const meta = chunk.metadata
    const ack = (rejectHint: number, reject: boolean) =>
      this.send({ type: MessageType.SnapResp, to: m.from, index: meta.index, rejectHint, reject })
    if (chunk.offset === 0) {
      if (meta.index <= this.log.committed) {
        // Nothing to learn from it: tell the leader where we are, it resumes with entries.
        this.snapshotReceive = undefined
        this.send({ type: MessageType.AppResp, to: m.from, index: this.log.committed })
        return
      }
      const cur = this.snapshotReceive
      const same =
        cur !== undefined &&
        cur.chunk0.metadata.index === meta.index &&
        cur.chunk0.metadata.term === meta.term
      if (!same || cur.term !== m.term) {
        this.snapshotReceive = { term: m.term, chunk0: chunk, parts: [], received: 0 }
      }
    }
    const rc = this.snapshotReceive
    if (
      rc === undefined ||
      rc.term !== m.term ||
      rc.chunk0.metadata.index !== meta.index ||
      rc.chunk0.metadata.term !== meta.term ||
      rc.chunk0.totalBytes !== chunk.totalBytes
    ) {
      ack(0, true)
      return
    }
    if (chunk.offset < rc.received) {
      ack(rc.received, false) // a duplicate: acknowledge what we hold
      return
    }
    if (chunk.offset > rc.received) {
      ack(rc.received, true) // a gap: ask for a resend from what we hold
      return
    }
    if (chunk.data.length > 0 || rc.received === 0) {
      rc.parts.push(chunk.data)
      rc.received += chunk.data.length
    }
    if (rc.received < chunk.totalBytes) {
      ack(rc.received, false)
      return
    }
    this.snapshotReceive = undefined
    let data: Uint8Array
    if (rc.parts.length === 1) data = rc.parts[0]!.slice()
    else {
      data = new Uint8Array(rc.received)
      let at = 0
      for (const p of rc.parts) {
        data.set(p, at)
        at += p.length
      }
    }
    const snapshot: Snapshot = { metadata: meta, data }
    if (this.restore(snapshot)) {
      this.send({ type: MessageType.AppResp, to: m.from, index: this.log.lastIndex() })
    } else {
      this.send({ type: MessageType.AppResp, to: m.from, index: this.log.committed })
    }
  }

  /** Installs a leader's snapshot; false when it is stale or unusable. */
  restore(s: Snapshot): boolean {
    const meta = s.metadata
    if (meta.index <= this.log.committed) return false
    if (this.state !== StateType.Follower) {
      // Only a follower may install a snapshot; a leader receiving one is a safety bug elsewhere.
      this.becomeFollower(this.term + 1, None)
      return false
    }
    const config = configFromConfState(meta.confState)
    if (config === undefined) return false
    // A replica added after the snapshot was taken is not in its configuration; it installs the
    // snapshot anyway (it cannot campaign: it is not a voter there) and learns of its own
    // membership from the entries that follow.
    if (this.log.matchTerm(meta.index, meta.term)) {
      // We hold that entry: fast-forward the commit index instead of replacing the log.
      this.log.commitTo(meta.index)
      return false
    }
    this.log.restore(s)
    this.adoptConfig(config)
    return true
  }
}
