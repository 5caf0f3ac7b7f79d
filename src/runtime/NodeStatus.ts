/**
 * What a node reports: the status of each hosted replica (`GroupStatus`, read by the admin
 * endpoint, the metadata agent and placement) and the node's counters (`NodeStats`).
 */
import { Option } from "effect"
import type { GroupId, NodeId } from "../raft/Ids.js"
import type { ReplicaId } from "../raft/Types.js"
import type { InboundDropReason, TransportStats } from "../transport/TransportService.js"
import type { NodeContext } from "./NodeContext.js"
import type { Replica } from "./Replica.js"

/** What a node reports of one hosted replica. */
export interface GroupStatus {
  readonly groupId: GroupId
  readonly replicaId: ReplicaId
  readonly kind: string
  readonly isLeader: boolean
  readonly leaderNode: NodeId | undefined
  /** The leading replica (0 when unknown). */
  readonly leader: ReplicaId
  readonly term: number
  readonly commit: number
  readonly applied: number
  readonly lastIndex: number
  readonly quiesced: boolean
  readonly stopped: string | undefined
  /** Every voter, incoming and outgoing. */
  readonly voters: readonly ReplicaId[]
  /** The voters of the incoming configuration (in a joint configuration: the new one). */
  readonly incoming: readonly ReplicaId[]
  readonly learners: readonly ReplicaId[]
  /** In a joint configuration: the outgoing voters (else empty). */
  readonly outgoing: readonly ReplicaId[]
  /** Learners-to-be when the joint configuration is left. */
  readonly learnersNext: readonly ReplicaId[]
  /** Log index of the applied configuration (see `Replica.confVersion`). */
  readonly confVersion: number
  /** In a joint configuration: whether it is left automatically. */
  readonly autoLeave: boolean
  /** Approximate bytes of replicated state (latest snapshot + entries applied since). */
  readonly sizeBytes: number
  /** On the leader: each member's replicated index (match). */
  readonly progress: ReadonlyArray<{
    readonly replica: ReplicaId
    readonly match: number
    readonly learner: boolean
  }>
}

/** A node's counters (engine rounds, messages, quiescence) and the nodes it counts as down. */
export interface NodeStats {
  readonly groups: number
  readonly activeGroups: number
  readonly leaders: number
  readonly rounds: number
  readonly messagesIn: number
  readonly messagesOut: number
  readonly quiesces: number
  readonly wakes: number
  readonly snapshotsInstalled: number
  /** Messages the Raft core refused (malformed for it, or a response from a non-member). */
  readonly refusedMessages: number
  /** Messages dropped before the core as implausible for their replica (InboundCheck.ts). */
  readonly droppedImplausible: number
  readonly droppedUnknownGroup: number
  /**
   * Inbound frames the transport dropped before decoding finished or as misrouted: malformed,
   * truncated, oversized, foreign, misrouted (overflow is load, not bad input, and not counted).
   */
  readonly droppedFrames: number
  /** Session opens refused by the node's rate limits (SessionOpens.ts). */
  readonly refusedSessionOpens: number
  /** Replies to bus requests that could not be sent (connection down, payload too large). */
  readonly unsentReplies: number
  readonly nodesDown: readonly NodeId[]
  /** Inbound Raft frames dropped by the transport, by reason (`unauthenticated`: bad tag). */
  readonly framesDropped: Readonly<Record<InboundDropReason, number>>
  /** Liveness pings refused: forged (tag) or replayed (clock not later). */
  readonly refusedPings: number
}

const badFrames = (t: TransportStats): number =>
  t.dropped.malformed + t.dropped.truncated + t.dropped.oversized + t.dropped.foreign + t.dropped.misrouted

const ascending = (ids: Iterable<ReplicaId>) => [...ids].sort((a, b) => a - b)

/** What a replica reports of itself. */
const statusOf = (r: Replica): GroupStatus => {
  const st = r.raw.status()
  return {
    groupId: r.groupId,
    replicaId: r.id,
    kind: r.kind.name,
    isLeader: r.isLeader,
    leaderNode: r.leaderNode(),
    leader: r.raw.leader,
    term: st.hardState.term,
    commit: st.hardState.commit,
    applied: st.applied,
    lastIndex: st.lastIndex,
    quiesced: r.quiesced,
    stopped: r.stopped,
    voters: ascending(new Set([...st.config.incoming, ...st.config.outgoing])),
    incoming: ascending(st.config.incoming),
    learners: ascending(st.config.learners),
    outgoing: ascending(st.config.outgoing),
    learnersNext: ascending(st.config.learnersNext),
    confVersion: r.confVersion,
    autoLeave: st.config.autoLeave,
    sizeBytes: r.dataBytes,
    progress: [...st.progress].map(([replica, pr]) => ({ replica, match: pr.match, learner: pr.isLearner })),
  }
}

/** The status of the node's replica of `groupId`, if it hosts one. */
export const groupStatus = (ctx: NodeContext, groupId: GroupId): Option.Option<GroupStatus> =>
  Option.map(Option.fromNullable(ctx.engine.replicas.get(groupId)), statusOf)

/** The status of every hosted replica. */
export const allGroupStatus = (ctx: NodeContext): ReadonlyArray<GroupStatus> =>
  [...ctx.engine.replicas.values()].map(statusOf)

/** The node's counters now. */
export const nodeStats = (ctx: NodeContext, transport: TransportStats): NodeStats => {
  const engine = ctx.engine
  let leaders = 0
  for (const r of engine.replicas.values()) if (r.isLeader) leaders++
  return {
    groups: engine.replicas.size,
    activeGroups: engine.activeCount(),
    leaders,
    rounds: engine.stats.rounds,
    messagesIn: engine.stats.messagesIn,
    messagesOut: engine.stats.messagesOut,
    quiesces: engine.stats.quiesces,
    wakes: engine.stats.wakes,
    snapshotsInstalled: engine.stats.snapshotsInstalled,
    refusedMessages: engine.stats.refusedMessages,
    droppedImplausible: engine.stats.droppedImplausible,
    droppedUnknownGroup: engine.stats.droppedUnknownGroup,
    droppedFrames: badFrames(transport),
    refusedSessionOpens: ctx.sessionOpens.refused,
    unsentReplies: ctx.replies.unsent,
    nodesDown: [...ctx.liveness.down],
    framesDropped: transport.dropped,
    refusedPings: ctx.liveness.refusedPings,
  }
}

/** What the metrics and health checks read of one hosted replica (no arrays: cheap for 10,000s). */
export interface ReplicaBrief {
  readonly groupId: GroupId
  readonly isLeader: boolean
  readonly leaderKnown: boolean
  readonly quiesced: boolean
  readonly stopped: boolean
  readonly term: number
  readonly commit: number
  readonly applied: number
  readonly lastIndex: number
  /** Requests waiting in the replica's mailbox. */
  readonly mailbox: number
}

/**
 * Calls `f` with the brief of every hosted replica. The brief is ONE object refilled for each
 * replica (a scrape of 10,000 groups allocates nothing per group): read it inside `f`, never
 * keep it.
 */
export const forEachReplica = (ctx: NodeContext, f: (brief: ReplicaBrief) => void): void => {
  const b = {
    groupId: 0 as GroupId,
    isLeader: false,
    leaderKnown: false,
    quiesced: false,
    stopped: false,
    term: 0,
    commit: 0,
    applied: 0,
    lastIndex: 0,
    mailbox: 0,
  }
  for (const r of ctx.engine.replicas.values()) {
    const raw = r.raw
    b.groupId = r.groupId
    b.isLeader = r.isLeader
    b.leaderKnown = raw.leader !== 0
    b.quiesced = r.quiesced
    b.stopped = r.stopped !== undefined
    b.term = raw.term
    b.commit = raw.commitIndex
    b.applied = raw.appliedIndex
    b.lastIndex = raw.lastIndex
    b.mailbox = r.mailbox.length
    f(b)
  }
}
