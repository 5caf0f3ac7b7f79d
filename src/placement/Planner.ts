/**
 * The placement planner: a pure function from the cluster as the metadata group records it,
 * the nodes' latest reports and the time, to the operators worth starting now.
 *
 * Rules, in priority order (an earlier rule takes a group before a later one looks at it):
 * 1. the metadata group towards its target membership (`metaMembershipTarget`);
 * 2. per shard group: remove orphan learners; replace voters on failed nodes; add voters to an
 *    under-replicated group; remove voters from an over-replicated one; move a voter out of a
 *    zone it shares (when zones bind); move voters off draining nodes;
 * 3. balance replica counts: move a voter from a node with `c` replicas to one with `c - 2` or
 *    fewer, as long as such a pair has a movable group;
 * 4. balance leader counts with leader transfers, after moving leaders off draining nodes:
 *    chains of transfers (`findLeaderChain`) from a node leading `c` groups to one leading
 *    `c - 2` or fewer, so the counts end as balanced as the groups' voters allow.
 *
 * Every operator passes `ClusterView.violation` (one operator per group, quorum, distinct
 * nodes and zones, rate limits) before it is emitted. Moves happen only between counts two or
 * more apart, so each one strictly lowers the sum of squared counts: on a stable cluster,
 * repeated planning reaches a plan with no operator.
 *
 * CONTRACT: `plan` is deterministic in its inputs (no clock, no randomness, ties broken by id)
 * and never returns two operators for one group, nor one for a group with an operator in flight.
 */
import { hostsKind, metaMembershipTarget, pickNode } from "../meta/Allocation.js"
import {
  type ClusterState,
  DEFAULT_KEYSPACE_KIND,
  findGroup,
  findKeyspace,
  type GroupRecord,
  META_GROUP,
  type NodeRecord,
} from "../meta/ClusterState.js"
import { findLeaderChain, type Leadership } from "../meta/LeaderChains.js"
import type { OperatorReason, OperatorSpec } from "../meta/Operator.js"
import { type GroupId, type NodeId, nodeOfReplica } from "../raft/Ids.js"
import type { ReplicaId } from "../raft/Types.js"
import { ClusterView } from "./ClusterView.js"
import type { NodeLoad } from "./LoadReport.js"

/** The operators to start now. See the module comment. */
export const plan = (state: ClusterState, loads: ReadonlyArray<NodeLoad>, now: number): OperatorSpec[] => {
  if (!state.bootstrapped) return []
  const view = new ClusterView(state, loads, now)
  const out: OperatorSpec[] = []
  const emit = (spec: OperatorSpec): boolean => {
    if (!view.admit(spec)) return false
    out.push(spec)
    return true
  }
  repairMetaGroup(view, emit)
  for (const group of state.groups) {
    if (group.id !== META_GROUP) repairGroup(view, group, emit)
  }
  balanceReplicas(view, emit)
  balanceLeaders(view, emit)
  return out
}

type Emit = (spec: OperatorSpec) => boolean

const voterIds = (group: GroupRecord): ReplicaId[] =>
  group.replicas.filter((r) => r.role === "voter").map((r) => r.id)

/** Learners and joining replicas no operator is adding: left over, removed. */
const removeOrphans = (group: GroupRecord, emit: Emit): boolean => {
  const orphan = group.replicas.find((r) => r.role !== "voter")
  return orphan !== undefined && emit(remove(group.id, orphan.id, "orphan-learner"))
}

const remove = (group: GroupId, replica: ReplicaId, reason: OperatorReason): OperatorSpec => ({
  _tag: "RemoveReplica",
  group,
  replica,
  reason,
})

const move = (group: GroupId, from: ReplicaId, node: NodeId, reason: OperatorReason): OperatorSpec => ({
  _tag: "MoveReplica",
  group,
  from,
  node,
  reason,
})

/**
 * True when `node` may take a replica of `group`: it hosts the group's kind (every node hosts
 * the metadata group) and it is under the cluster's limit of replicas per node.
 */
const mayHost = (view: ClusterView, node: NodeRecord, group: GroupRecord): boolean => {
  if ((view.replicaCount.get(node.id) ?? 0) >= view.settings.maxReplicasPerNode) return false
  if (group.id === META_GROUP) return true
  return hostsKind(node, findKeyspace(view.state, group.keyspace)?.kind ?? DEFAULT_KEYSPACE_KIND)
}

/**
 * The best up node for a new replica of `group`, `from` leaving (see `pickNode`): one that hosts
 * the group's kind and is under the cluster's limit of replicas per node.
 */
const pickTarget = (view: ClusterView, group: GroupRecord, from?: ReplicaId): NodeId | undefined => {
  const staying = group.replicas
    .filter((r) => r.id !== from)
    .flatMap((r) => view.nodes.get(nodeOfReplica(r.id)) ?? [])
  const candidates = view.upNodes().filter((n) => view.hasCapacity([n.id]) && mayHost(view, n, group))
  const strict = view.zonesBind(view.target(group))
  return pickNode(candidates, staying, strict, (n) => view.replicaCount.get(n) ?? 0)?.id
}

/** Rule 1: the metadata group towards `metaMembershipTarget`. */
const repairMetaGroup = (view: ClusterView, emit: Emit): void => {
  const group = findGroup(view.state, META_GROUP)
  if (group === undefined || !view.plannable(group)) return
  if (removeOrphans(group, emit)) return
  const target = new Set(metaMembershipTarget(view.state, view.now))
  const hosted = new Set(group.replicas.map((r) => nodeOfReplica(r.id)))
  const extra = voterIds(group)
    .filter((v) => !target.has(nodeOfReplica(v)))
    .sort((a, b) => Number(view.alive(nodeOfReplica(a))) - Number(view.alive(nodeOfReplica(b))) || a - b)
  const missing = [...target].filter((n) => !hosted.has(n)).sort((a, b) => a - b)
  const out = extra[0]
  const into = missing[0]
  if (out !== undefined && into !== undefined) emit(move(META_GROUP, out, into, "meta-target"))
  else if (into !== undefined)
    emit({ _tag: "AddReplica", group: META_GROUP, node: into, reason: "meta-target" })
  else if (out !== undefined) emit(remove(META_GROUP, out, "meta-target"))
}

/** Rule 2: one repair for a shard group, the most urgent first. */
const repairGroup = (view: ClusterView, group: GroupRecord, emit: Emit): void => {
  if (!view.plannable(group)) return
  if (removeOrphans(group, emit)) return
  const voters = voterIds(group)
  const rf = view.target(group)
  const health = (r: ReplicaId) => view.healthOf(nodeOfReplica(r))
  for (const v of voters) {
    const h = health(v)
    if (h !== "failed" && h !== "removed") continue
    const into = pickTarget(view, group, v)
    if (into !== undefined && emit(move(group.id, v, into, "replace-failed"))) return
  }
  if (voters.length < rf) {
    const into = pickTarget(view, group)
    if (
      into !== undefined &&
      emit({ _tag: "AddReplica", group: group.id, node: into, reason: "under-replicated" })
    )
      return
  }
  if (voters.length > rf) {
    const victim = removalVictim(view, group, voters)
    if (victim !== undefined && emit(remove(group.id, victim, "over-replicated"))) return
  }
  if (view.zonesBind(rf)) {
    const victim = zoneConflictVictim(view, group, voters)
    const into = victim === undefined ? undefined : pickTarget(view, group, victim)
    if (victim !== undefined && into !== undefined && emit(move(group.id, victim, into, "zone-conflict")))
      return
  }
  for (const v of voters) {
    if (view.nodes.get(nodeOfReplica(v))?.state !== "draining") continue
    const into = pickTarget(view, group, v)
    if (into !== undefined && emit(move(group.id, v, into, "drain"))) return
  }
}

/**
 * The voter to remove from an over-replicated group: one whose node is not alive first, then
 * one on a draining node, then not the leader, then on the most loaded node, then highest id.
 */
const removalVictim = (view: ClusterView, group: GroupRecord, voters: ReadonlyArray<ReplicaId>) => {
  const leader = view.leaderOf.get(group.id)
  const key = (v: ReplicaId) => {
    const node = nodeOfReplica(v)
    return [
      view.alive(node) ? 1 : 0,
      view.nodes.get(node)?.state === "draining" ? 0 : 1,
      v === leader ? 1 : 0,
      -(view.replicaCount.get(node) ?? 0),
      -v,
    ]
  }
  return minBy(voters, key)
}

/** A voter sharing its zone with another voter of the group: not the leader, most loaded node, highest id. */
const zoneConflictVictim = (view: ClusterView, group: GroupRecord, voters: ReadonlyArray<ReplicaId>) => {
  const zoneOfReplica = (v: ReplicaId) => view.nodes.get(nodeOfReplica(v))?.labels.zone ?? ""
  const shared = voters.filter((v) => voters.some((w) => w !== v && zoneOfReplica(w) === zoneOfReplica(v)))
  const leader = view.leaderOf.get(group.id)
  return minBy(shared, (v) => [v === leader ? 1 : 0, -(view.replicaCount.get(nodeOfReplica(v)) ?? 0), -v])
}

const minBy = <A>(items: ReadonlyArray<A>, key: (a: A) => ReadonlyArray<number>): A | undefined => {
  let best: A | undefined
  let bestKey: ReadonlyArray<number> = []
  for (const item of items) {
    const k = key(item)
    if (best === undefined || lexLess(k, bestKey)) {
      best = item
      bestKey = k
    }
  }
  return best
}

const lexLess = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): boolean => {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! !== b[i]!) return a[i]! < b[i]!
  }
  return false
}

/** Up nodes ordered by `count` descending (sources) and ascending (targets), ties by id. */
const byCount = (nodes: ReadonlyArray<NodeId>, count: (n: NodeId) => number) => ({
  sources: [...nodes].sort((a, b) => count(b) - count(a) || a - b),
  targets: [...nodes].sort((a, b) => count(a) - count(b) || a - b),
})

/** Rule 3: move voters from nodes with the most replicas to nodes with two or more fewer. */
const balanceReplicas = (view: ClusterView, emit: Emit): void => {
  const up = view.upNodes().map((n) => n.id)
  if (up.length < 2) return
  const count = (n: NodeId) => view.replicaCount.get(n) ?? 0
  const byNode = new Map<NodeId, GroupRecord[]>()
  for (const g of view.state.groups) {
    if (g.id === META_GROUP) continue
    for (const r of g.replicas) {
      if (r.role !== "voter") continue
      const n = nodeOfReplica(r.id)
      const list = byNode.get(n)
      if (list === undefined) byNode.set(n, [g])
      else list.push(g)
    }
  }
  for (;;) {
    const { sources, targets } = byCount(up, count)
    if (!balanceOnce(view, emit, byNode, sources, targets, count)) return
  }
}

const balanceOnce = (
  view: ClusterView,
  emit: Emit,
  byNode: ReadonlyMap<NodeId, ReadonlyArray<GroupRecord>>,
  sources: ReadonlyArray<NodeId>,
  targets: ReadonlyArray<NodeId>,
  count: (n: NodeId) => number,
): boolean => {
  for (const s of sources) {
    for (const t of targets) {
      if (count(s) - count(t) < 2) break
      if (!view.hasCapacity([s, t])) continue
      const movable = (byNode.get(s) ?? [])
        .filter((g) => !view.busy.has(g.id))
        .flatMap((g) => {
          const r = g.replicas.find((x) => nodeOfReplica(x.id) === s && x.role === "voter")
          return r === undefined || g.replicas.some((x) => nodeOfReplica(x.id) === t) ? [] : [{ g, r: r.id }]
        })
        // Moving a follower is cheaper than moving a leader (no transfer first).
        .sort((a, b) => Number(view.leaderOf.get(a.g.id) === a.r) - Number(view.leaderOf.get(b.g.id) === b.r))
      const target = view.nodes.get(t)
      for (const { g, r } of movable) {
        if (target === undefined || !mayHost(view, target, g)) continue
        if (emit(move(g.id, r, t, "balance-replicas"))) return true
      }
    }
  }
  return false
}

/**
 * Rule 4: leaders off draining nodes, then chains of transfers (see `findLeaderChain`) from the
 * most leading up nodes towards nodes leading two or more fewer groups.
 */
const balanceLeaders = (view: ClusterView, emit: Emit): void => {
  const up = new Set(view.upNodes().map((n) => n.id))
  if (up.size === 0) return
  const count = (n: NodeId) => view.leaderCount.get(n) ?? 0
  const shardGroups = view.state.groups.filter((g) => g.id !== META_GROUP)
  for (const g of shardGroups) {
    const leader = view.leaderOf.get(g.id)
    if (leader === undefined || view.healthOf(nodeOfReplica(leader)) !== "draining") continue
    const to = minBy(
      successors(view, g, leader).filter((v) => up.has(nodeOfReplica(v))),
      (v) => [count(nodeOfReplica(v)), nodeOfReplica(v)],
    )
    if (to !== undefined) emit(transfer(g.id, leader, to, "drain"))
  }
  const eligible = (n: NodeId) => up.has(n) && view.hasCapacity([n])
  for (;;) {
    const byLeader = new Map<NodeId, Leadership<GroupRecord>[]>()
    for (const g of shardGroups) {
      const leader = view.leaderOf.get(g.id)
      if (leader === undefined || !up.has(nodeOfReplica(leader)) || !view.plannable(g)) continue
      const candidates = successors(view, g, leader)
        .map(nodeOfReplica)
        .filter((n) => up.has(n))
      const at = nodeOfReplica(leader)
      const list = byLeader.get(at)
      if (list === undefined) byLeader.set(at, [{ group: g, leader: at, candidates }])
      else list.push({ group: g, leader: at, candidates })
    }
    const chainFrom = (s: NodeId) => {
      if (!view.hasCapacity([s])) return undefined
      const chain = findLeaderChain(s, byLeader, count, eligible)
      const specs = chain?.map((step) =>
        transfer(
          step.group.id,
          view.leaderOf.get(step.group.id)!,
          voterOn(step.group, step.to)!,
          "balance-leaders",
        ),
      )
      return specs !== undefined && view.hasCapacityFor(specs) ? specs : undefined
    }
    const sources = [...up].sort((a, b) => count(b) - count(a) || a - b)
    let specs: OperatorSpec[] | undefined
    for (const s of sources) if ((specs = chainFrom(s)) !== undefined) break
    if (specs === undefined) return
    for (const spec of specs) emit(spec)
  }
}

const transfer = (group: GroupId, from: ReplicaId, to: ReplicaId, reason: OperatorReason): OperatorSpec => ({
  _tag: "TransferLeader",
  group,
  from,
  to,
  reason,
})

const voterOn = (group: GroupRecord, node: NodeId): ReplicaId | undefined =>
  voterIds(group).find((v) => nodeOfReplica(v) === node)

/** The voters of `group` other than `leader` that may take leadership: caught up as far as reports tell. */
const successors = (view: ClusterView, group: GroupRecord, leader: ReplicaId): ReplicaId[] => {
  const status = view.statuses.get(group.id)
  const caughtUp = (r: ReplicaId) => {
    if (status === undefined || status.leader === 0) return true
    const applied = status.applied.get(r)
    return applied !== undefined && applied + view.settings.catchUpLagEntries >= status.leaderApplied
  }
  return voterIds(group).filter((v) => v !== leader && caughtUp(v))
}
