/**
 * What nodes report with every heartbeat, and the per-group status the planner and the
 * operator step function derive from those reports.
 *
 * A node reports each replica it hosts: its role as it sees it, whether it leads (and in which
 * term), its applied index and its size (bytes on disk: informative today, the planner
 * balances counts). A leader also reports the group's applied
 * configuration; followers need not (their view may lag), which keeps reports small on nodes
 * that host thousands of replicas.
 *
 * The reports cross process boundaries (node → metadata leader), hence the Schemas.
 */
import { Schema } from "effect"
import { Count, GroupIdSchema, Millis, NodeIdSchema, ReplicaIdSchema } from "../meta/IdSchemas.js"
import type { GroupId } from "../raft/Ids.js"
import type { ReplicaId } from "../raft/Types.js"

/** A group's applied configuration, as in `ConfState`, with the log index it was applied at. */
export const Membership = Schema.Struct({
  /** Log index of the configuration change (0: the initial configuration). */
  confVersion: Count,
  voters: Schema.Array(ReplicaIdSchema),
  learners: Schema.Array(ReplicaIdSchema),
  votersOutgoing: Schema.Array(ReplicaIdSchema),
  learnersNext: Schema.Array(ReplicaIdSchema),
  autoLeave: Schema.Boolean,
})
/** See `Membership`. */
export interface Membership extends Schema.Schema.Type<typeof Membership> {}

/** One hosted replica, as its node sees it. */
export const ReplicaReport = Schema.Struct({
  group: GroupIdSchema,
  replica: ReplicaIdSchema,
  /** The replica's role in the configuration it has applied (a joint configuration's outgoing voters are voters). */
  role: Schema.Literal("voter", "learner"),
  /** True when this replica is its group's leader. */
  leader: Schema.Boolean,
  term: Count,
  applied: Count,
  sizeBytes: Count,
  /** The applied configuration; leaders MUST send it, followers may. */
  membership: Schema.optional(Membership),
})
/** See `ReplicaReport`. */
export interface ReplicaReport extends Schema.Schema.Type<typeof ReplicaReport> {}

/** One node's heartbeat payload. */
export const NodeLoad = Schema.Struct({
  node: NodeIdSchema,
  /** The sender's clock; informative only (the metadata leader stamps its own time). */
  at: Millis,
  replicas: Schema.Array(ReplicaReport),
})
/** See `NodeLoad`. */
export interface NodeLoad extends Schema.Schema.Type<typeof NodeLoad> {}

/** What the reports say about one group. */
export interface GroupStatus {
  readonly group: GroupId
  /** The reporting leader with the highest term (0 when no replica reports leading). */
  readonly leader: ReplicaId
  readonly term: number
  /** The leader's applied index (0 without a leader). */
  readonly leaderApplied: number
  /** The leader's applied configuration (undefined without a leader, or if it sent none). */
  readonly membership: Membership | undefined
  /** Applied index of every reporting replica. */
  readonly applied: ReadonlyMap<ReplicaId, number>
}

/**
 * Folds node reports into one status per group. With several replicas claiming leadership
 * (an old leader not yet aware it was deposed), the highest term wins, then the highest
 * applied index, then the lowest replica id: the result does not depend on report order.
 */
export const groupStatuses = (loads: ReadonlyArray<NodeLoad>): Map<GroupId, GroupStatus> => {
  const applied = new Map<GroupId, Map<ReplicaId, number>>()
  const leaders = new Map<GroupId, ReplicaReport>()
  for (const load of loads) {
    for (const r of load.replicas) {
      let m = applied.get(r.group)
      if (m === undefined) applied.set(r.group, (m = new Map()))
      m.set(r.replica, Math.max(m.get(r.replica) ?? 0, r.applied))
      if (!r.leader) continue
      const best = leaders.get(r.group)
      if (best === undefined || beats(r, best)) leaders.set(r.group, r)
    }
  }
  const out = new Map<GroupId, GroupStatus>()
  for (const [group, m] of applied) {
    const l = leaders.get(group)
    out.set(group, {
      group,
      leader: l?.replica ?? (0 as ReplicaId),
      term: l?.term ?? 0,
      leaderApplied: l?.applied ?? 0,
      membership: l?.membership,
      applied: m,
    })
  }
  return out
}

const beats = (a: ReplicaReport, b: ReplicaReport): boolean =>
  a.term !== b.term
    ? a.term > b.term
    : a.applied !== b.applied
      ? a.applied > b.applied
      : a.replica < b.replica

/** True in a joint configuration. */
export const isJoint = (m: Membership): boolean => m.votersOutgoing.length > 0

/** Every voter of a configuration (both halves of a joint one). */
export const allVoters = (m: Membership): ReadonlySet<ReplicaId> =>
  new Set([...m.voters, ...m.votersOutgoing])

/** True when `replica` is a learner now or will be one when the joint configuration is left. */
export const isLearnerIn = (m: Membership, replica: ReplicaId): boolean =>
  m.learners.includes(replica) || m.learnersNext.includes(replica)

/** True when `replica` belongs to the configuration in any role. */
export const isMemberOf = (m: Membership, replica: ReplicaId): boolean =>
  allVoters(m).has(replica) || isLearnerIn(m, replica)
