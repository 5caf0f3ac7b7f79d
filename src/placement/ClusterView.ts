/**
 * The planner's working view of the cluster at one instant: node health, which groups already
 * have an operator, operators per node, replica and leader counts per node projected to the
 * end of every operator in flight, and the safety checks every planned operator must pass.
 *
 * One view serves one `plan` call: `reserve` records each operator the planner emits, so later
 * decisions in the same call see its effect. The checks in `permits` are the planner's
 * safety rules in one place:
 * - AT MOST ONE OPERATOR PER GROUP: no operator for a group with one in flight or already planned;
 * - NEVER BELOW QUORUM: the group's alive voters form a majority before the change, and of
 *   every configuration the operator passes through (the joint one included);
 * - DISTINCT NODES: a new replica never goes to a node hosting a replica of the group;
 * - DISTINCT ZONES when zones bind (see `zonesBind`): never to a zone hosting another replica
 *   of the group (the replica moving out excepted);
 * - RATE LIMITS: operators in flight per node (`maxOperatorsPerNode`, counting every node an
 *   operator involves that is not failed or removed) and per cluster (`maxOperatorsPerCluster`).
 */
import { isAlive, type NodeHealth, nodeHealth, zonesBind } from "../meta/Allocation.js"
import {
  type ClusterState,
  findGroup,
  type GroupRecord,
  META_GROUP,
  type NodeRecord,
  replicationTarget,
  type Settings,
  zoneOf,
} from "../meta/ClusterState.js"
import type { OperatorRecord, OperatorSpec } from "../meta/Operator.js"
import { type GroupId, type NodeId, nodeOfReplica } from "../raft/Ids.js"
import type { ReplicaId } from "../raft/Types.js"
import { type GroupStatus, groupStatuses, isJoint, type NodeLoad } from "./LoadReport.js"

/** The nodes an operator makes work: they count against `maxOperatorsPerNode`. */
export const involvedNodes = (spec: OperatorSpec): NodeId[] => {
  switch (spec._tag) {
    case "AddReplica":
      return [spec.node]
    case "RemoveReplica":
      return [nodeOfReplica(spec.replica)]
    case "MoveReplica":
      return [spec.node, nodeOfReplica(spec.from)]
    case "TransferLeader":
      return [nodeOfReplica(spec.from), nodeOfReplica(spec.to)]
  }
}

/** True when a node of this health counts against the per-node limit (it does the work). */
export const countsForLimit = (health: NodeHealth | undefined): boolean =>
  health !== undefined && health !== "failed" && health !== "removed"

const majority = (n: number) => Math.floor(n / 2) + 1

/** See the module comment. */
export class ClusterView {
  readonly settings: Settings
  readonly health = new Map<NodeId, NodeHealth>()
  readonly nodes = new Map<NodeId, NodeRecord>()
  readonly statuses: Map<GroupId, GroupStatus>
  /** Groups with an operator in flight or planned in this call. */
  readonly busy = new Set<GroupId>()
  /** Operators in flight or planned that involve each node. */
  readonly opsOnNode = new Map<NodeId, number>()
  opsTotal = 0
  /** Replicas of shard groups per node, projected to the end of every operator. */
  readonly replicaCount = new Map<NodeId, number>()
  /** Shard group leaders per node, projected to the end of every transfer. */
  readonly leaderCount = new Map<NodeId, number>()
  /** The leader of each group: from the reports, else the recorded hint. */
  readonly leaderOf = new Map<GroupId, ReplicaId>()

  constructor(
    readonly state: ClusterState,
    loads: ReadonlyArray<NodeLoad>,
    readonly now: number,
  ) {
    this.settings = state.settings
    for (const n of state.nodes) {
      this.nodes.set(n.id, n)
      this.health.set(n.id, nodeHealth(n, state.settings, now))
    }
    this.statuses = groupStatuses(loads)
    for (const g of state.groups) {
      const reported = this.statuses.get(g.id)?.leader ?? 0
      const leader = reported !== 0 ? reported : g.leaderHint
      if (leader !== 0) this.leaderOf.set(g.id, leader)
      if (g.id === META_GROUP) continue
      for (const r of g.replicas) bump(this.replicaCount, nodeOfReplica(r.id))
      if (leader !== 0) bump(this.leaderCount, nodeOfReplica(leader))
    }
    for (const op of state.operators) this.#project(op)
  }

  /** Accounts for an operator in flight: its group is busy, its nodes work, counts move. */
  #project(op: OperatorRecord): void {
    this.#occupy(op.spec)
    const spec = op.spec
    const group = findGroup(this.state, spec.group)
    const listed = (id: number) => group?.replicas.some((r) => r.id === id) ?? false
    if (spec.group === META_GROUP) return
    if (op.status === "rolling-back") {
      if (op.newReplica !== 0 && listed(op.newReplica))
        bump(this.replicaCount, nodeOfReplica(op.newReplica), -1)
      return
    }
    if ((spec._tag === "AddReplica" || spec._tag === "MoveReplica") && op.newReplica === 0) {
      bump(this.replicaCount, spec.node)
    }
    if (spec._tag === "MoveReplica" && listed(spec.from))
      bump(this.replicaCount, nodeOfReplica(spec.from), -1)
    if (spec._tag === "RemoveReplica" && listed(spec.replica)) {
      bump(this.replicaCount, nodeOfReplica(spec.replica), -1)
    }
    if (spec._tag === "TransferLeader" && this.leaderOf.get(spec.group) === spec.from) {
      bump(this.leaderCount, nodeOfReplica(spec.from), -1)
      bump(this.leaderCount, nodeOfReplica(spec.to))
    }
  }

  #occupy(spec: OperatorSpec): void {
    this.busy.add(spec.group)
    this.opsTotal++
    for (const n of involvedNodes(spec)) if (countsForLimit(this.health.get(n))) bump(this.opsOnNode, n)
  }

  /** Records a planned operator: later decisions of this plan see its effect. */
  reserve(spec: OperatorSpec): void {
    this.#occupy(spec)
    if (spec.group === META_GROUP) return
    switch (spec._tag) {
      case "AddReplica":
        bump(this.replicaCount, spec.node)
        return
      case "MoveReplica":
        bump(this.replicaCount, spec.node)
        bump(this.replicaCount, nodeOfReplica(spec.from), -1)
        return
      case "RemoveReplica":
        bump(this.replicaCount, nodeOfReplica(spec.replica), -1)
        return
      case "TransferLeader":
        bump(this.leaderCount, nodeOfReplica(spec.from), -1)
        bump(this.leaderCount, nodeOfReplica(spec.to))
        this.leaderOf.set(spec.group, spec.to)
    }
  }

  /** The health of a node (`removed` for a node the state does not know). */
  healthOf(node: NodeId): NodeHealth {
    return this.health.get(node) ?? "removed"
  }

  /** True when the node's replicas count towards quorums. */
  alive(node: NodeId): boolean {
    return isAlive(this.healthOf(node))
  }

  /** The nodes that may take new replicas now, by id. */
  upNodes(): NodeRecord[] {
    return this.state.nodes.filter((n) => this.health.get(n.id) === "up")
  }

  /** True when zones bind for a group that should have `replicas` voters. */
  zonesBind(replicas: number): boolean {
    return zonesBind(this.upNodes(), replicas)
  }

  /** Whether the rate limits leave room for one more operator involving these nodes. */
  hasCapacity(nodes: ReadonlyArray<NodeId>): boolean {
    if (this.opsTotal >= this.settings.maxOperatorsPerCluster) return false
    return nodes.every(
      (n) =>
        !countsForLimit(this.health.get(n)) ||
        (this.opsOnNode.get(n) ?? 0) < this.settings.maxOperatorsPerNode,
    )
  }

  /** Whether the rate limits leave room for all of `specs` together. */
  hasCapacityFor(specs: ReadonlyArray<OperatorSpec>): boolean {
    if (this.opsTotal + specs.length > this.settings.maxOperatorsPerCluster) return false
    const extra = new Map<NodeId, number>()
    for (const spec of specs) {
      for (const n of involvedNodes(spec)) if (countsForLimit(this.health.get(n))) bump(extra, n)
    }
    for (const [n, k] of extra)
      if ((this.opsOnNode.get(n) ?? 0) + k > this.settings.maxOperatorsPerNode) return false
    return true
  }

  /**
   * True when a group may take a new operator at all: none in flight, its recorded
   * configuration is not joint and is the one its leader reports, and its alive voters form a
   * majority (a group without quorum cannot change; the planner never forces it).
   */
  plannable(group: GroupRecord): boolean {
    if (this.busy.has(group.id) || group.joint) return false
    const m = this.statuses.get(group.id)?.membership
    if (m !== undefined && (isJoint(m) || m.confVersion !== group.confVersion)) return false
    const voters = group.replicas.filter((r) => r.role === "voter")
    return this.#aliveCount(voters.map((r) => r.id)) >= majority(voters.length)
  }

  #aliveCount(replicas: ReadonlyArray<ReplicaId>): number {
    let n = 0
    for (const r of replicas) if (this.alive(nodeOfReplica(r))) n++
    return n
  }

  /** The replication target of a group (voters). */
  target(group: GroupRecord): number {
    return replicationTarget(this.state, group)
  }

  /** Why `spec` breaks a safety rule, or undefined when the planner may emit it. */
  violation(spec: OperatorSpec): string | undefined {
    const group = findGroup(this.state, spec.group)
    if (group === undefined) return "unknown group"
    if (!this.plannable(group)) return "group not plannable"
    if (!this.hasCapacity(involvedNodes(spec))) return "rate limit"
    const voters = group.replicas.filter((r) => r.role === "voter").map((r) => r.id)
    let next = voters
    if (spec._tag === "AddReplica" || spec._tag === "MoveReplica") {
      if (this.healthOf(spec.node) !== "up") return "target not up"
      const staying = group.replicas.filter((r) => spec._tag !== "MoveReplica" || r.id !== spec.from)
      if (group.replicas.some((r) => nodeOfReplica(r.id) === spec.node)) return "node already hosts the group"
      if (this.zonesBind(this.target(group))) {
        const zone = zoneOf(this.nodes.get(spec.node)!)
        if (staying.some((r) => zoneOf(this.nodes.get(nodeOfReplica(r.id))!) === zone)) return "zone taken"
      }
      if (spec._tag === "MoveReplica" && !voters.includes(spec.from)) return "moves only voters"
      const from = spec._tag === "MoveReplica" ? spec.from : undefined
      // The new replica is alive (its node is up): count it as one.
      const remaining = voters.filter((v) => v !== from)
      if (this.#aliveCount(remaining) + 1 < majority(remaining.length + 1)) return "below quorum"
      return undefined
    }
    if (spec._tag === "RemoveReplica") {
      const r = group.replicas.find((x) => x.id === spec.replica)
      if (r === undefined) return "unknown replica"
      if (r.role === "voter") next = voters.filter((v) => v !== spec.replica)
      if (next.length === 0) return "last voter"
      if (this.#aliveCount(next) < majority(next.length)) return "below quorum"
      return undefined
    }
    if (!voters.includes(spec.from) || !voters.includes(spec.to) || spec.from === spec.to) return "not voters"
    if (!this.alive(nodeOfReplica(spec.to))) return "target not alive"
    return undefined
  }

  /** Emits `spec` when it passes every check: reserves it and returns true. */
  admit(spec: OperatorSpec): boolean {
    if (this.violation(spec) !== undefined) return false
    this.reserve(spec)
    return true
  }
}

const bump = (m: Map<NodeId, number>, k: NodeId, by = 1) => m.set(k, (m.get(k) ?? 0) + by)
