/**
 * The per-group status the planner and the operator step function derive from the nodes'
 * heartbeat reports (`NodeLoad`, defined with the metadata protocol in src/meta/NodeReport.ts
 * and re-exported here): who leads each group, in which term, its applied configuration and
 * how far each replica has applied.
 */

import type { Membership, NodeLoad, ReplicaReport } from "../meta/NodeReport.js"
import type { GroupId } from "../raft/Ids.js"
import type { ReplicaId } from "../raft/Types.js"

export { Membership, NodeLoad, ReplicaReport } from "../meta/NodeReport.js"

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
