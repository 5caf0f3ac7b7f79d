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
  readonly refusedMessages: number
  readonly droppedUnknownGroup: number
  /** Replies to bus requests that could not be sent (connection down, payload too large). */
  readonly unsentReplies: number
  readonly nodesDown: readonly NodeId[]
  /** Inbound Raft frames dropped by the transport, by reason (`unauthenticated`: bad tag). */
  readonly framesDropped: Readonly<Record<InboundDropReason, number>>
  /** Liveness pings refused: forged (tag) or replayed (clock not later). */
  readonly refusedPings: number
}

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
    droppedUnknownGroup: engine.stats.droppedUnknownGroup,
    unsentReplies: ctx.replies.unsent,
    nodesDown: [...ctx.liveness.down],
    framesDropped: transport.dropped,
    refusedPings: ctx.liveness.refusedPings,
  }
}
