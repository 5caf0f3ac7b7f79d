/**
 * Random planner inputs: a recorded cluster (nodes in every state and health, zones or none,
 * groups over- and under-replicated, learners, joint configurations, operators in flight) and
 * the reports its alive nodes would send. Built from plain fast-check records, so failures
 * shrink to small clusters.
 */
import fc from "fast-check"
import {
  type ClusterState,
  defaultSettings,
  emptyClusterState,
  type GroupRecord,
  type NodeRecord,
  type NodeState,
  type ReplicaRole,
} from "../../src/meta/ClusterState.js"
import type { OperatorRecord, OperatorSpec } from "../../src/meta/Operator.js"
import { splitSlots } from "../../src/meta/Slots.js"
import type { NodeLoad, ReplicaReport } from "../../src/placement/LoadReport.js"
import { GroupId, NodeId, nodeOfReplica, replicaIdOf } from "../../src/raft/Ids.js"
import type { ReplicaId } from "../../src/raft/Types.js"

/** The planning instant of every generated input. */
export const NOW = 1_000_000
const HEARTBEAT_TIMEOUT = 10_000
const DOWN_TIMEOUT = 60_000

const rawNode = fc.record({
  state: fc.constantFrom<NodeState[]>("up", "up", "up", "up", "up", "down", "draining", "removed"),
  silence: fc.constantFrom(0, 0, 0, 0, 1_000, 5_000, 30_000, 100_000),
  zone: fc.constantFrom("a", "b", "c", "d"),
  labelled: fc.constantFrom(true, true, true, true, true, true, true, false),
})

const rawGroup = fc.record({
  hosts: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 5 }),
  roles: fc.array(
    fc.constantFrom<ReplicaRole[]>("voter", "voter", "voter", "voter", "voter", "learner", "joining"),
    {
      minLength: 5,
      maxLength: 5,
    },
  ),
  generations: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 5, maxLength: 5 }),
  joint: fc.constantFrom(false, false, false, false, false, false, false, false, false, true),
  leader: fc.constantFrom(0, 0, 0, 0, 1, 2, 5),
  confVersion: fc.integer({ min: 0, max: 3 }),
  staleReport: fc.constantFrom(false, false, false, false, false, false, false, false, false, true),
  op: fc.option(
    fc.record({
      kind: fc.constantFrom("transfer", "move", "remove"),
      target: fc.integer({ min: 1, max: 8 }),
      rollingBack: fc.boolean(),
    }),
    { freq: 10 },
  ),
})

/** The raw material of one planner input. */
export const rawCluster = fc.record({
  nodes: fc.array(rawNode, { minLength: 1, maxLength: 8, size: "max" }),
  zoned: fc.boolean(),
  rf: fc.integer({ min: 1, max: 3 }),
  metaTargetSize: fc.constantFrom<Array<3 | 5>>(3, 5),
  maxOperatorsPerNode: fc.integer({ min: 1, max: 3 }),
  maxOperatorsPerCluster: fc.integer({ min: 1, max: 24 }),
  meta: rawGroup,
  groups: fc.array(rawGroup, { maxLength: 16, size: "max" }),
})
/** See `rawCluster`. */
export type RawCluster = typeof rawCluster extends fc.Arbitrary<infer A> ? A : never

/** A planner input: the recorded state and the reports of the alive nodes. */
export interface PlannerInput {
  readonly state: ClusterState
  readonly loads: NodeLoad[]
}

/** Builds a consistent recorded state (as the state machine could hold it) from raw material. */
export const buildInput = (raw: RawCluster): PlannerInput => {
  const nodes: NodeRecord[] = raw.nodes.map((r, i) => ({
    id: NodeId(i + 1),
    token: `t${i + 1}`,
    name: "",
    labels: raw.zoned && r.labelled ? { zone: r.zone } : ({} as Record<string, string>),
    kinds: ["kv"],
    state: r.state,
    registeredAt: 0,
    lastHeartbeat: NOW - r.silence,
    stateSince: 0,
  }))
  const hostable = new Set(nodes.filter((n) => n.state !== "removed").map((n) => n.id as number))
  const operators: OperatorRecord[] = []
  const staleGroups = new Set<number>()
  const makeGroup = (id: number, g: RawCluster["meta"]): GroupRecord | undefined => {
    const hosts = [...new Set(g.hosts)].filter((h) => hostable.has(h))
    if (hosts.length === 0) return undefined
    const replicas = hosts
      .map((h, i) => ({
        id: replicaIdOf(NodeId(h), g.generations[i]!),
        role: i === 0 ? ("voter" as const) : g.roles[i]!,
      }))
      .sort((a, b) => a.id - b.id)
    const voters = replicas.filter((r) => r.role === "voter")
    const leaderHint = g.leader < voters.length ? voters[g.leader]!.id : (0 as ReplicaId)
    const group: GroupRecord = {
      id: GroupId(id),
      keyspace: id === 0 ? "" : "kv",
      replicas,
      joint: g.joint,
      confVersion: g.confVersion,
      leaderHint,
      leaderTerm: 1,
      nextGeneration: 3,
    }
    if (g.staleReport) staleGroups.add(id)
    if (g.op !== null) {
      const spec = operatorFor(group, g.op.kind, g.op.target, hostable)
      if (spec !== undefined) {
        operators.push({
          id: operators.length + 1,
          spec,
          status: g.op.rollingBack ? "rolling-back" : "running",
          step: "",
          newReplica: 0 as ReplicaId,
          startedAt: NOW - 1,
          updatedAt: NOW - 1,
          deadline: NOW + 1_000,
          cause: g.op.rollingBack ? "test" : "",
        })
      }
    }
    return group
  }
  const meta = makeGroup(0, raw.meta)
  const groups = [meta, ...raw.groups.map((g, i) => makeGroup(i + 1, g))].filter((g) => g !== undefined)
  const shardGroups = groups.filter((g) => g.id !== 0)
  const state: ClusterState = {
    ...emptyClusterState,
    cluster: "prop",
    bootstrapped: true,
    nextNodeId: nodes.length + 1,
    nextGroupId: raw.groups.length + 1,
    nextOperatorId: operators.length + 1,
    settings: {
      ...defaultSettings,
      replicationFactor: raw.rf,
      metaTargetSize: raw.metaTargetSize,
      heartbeatTimeoutMs: HEARTBEAT_TIMEOUT,
      downTimeoutMs: DOWN_TIMEOUT,
      maxOperatorsPerNode: raw.maxOperatorsPerNode,
      maxOperatorsPerCluster: raw.maxOperatorsPerCluster,
    },
    nodes,
    groups,
    keyspaces:
      shardGroups.length === 0
        ? []
        : [
            {
              name: "kv",
              kind: "kv",
              replicationFactor: raw.rf,
              createdAt: 0,
              shards: splitSlots(shardGroups.length).map((r, i) => ({ group: shardGroups[i]!.id, ...r })),
            },
          ],
    operators,
  }
  return { state, loads: reportsOf(state, staleGroups) }
}

const operatorFor = (
  group: GroupRecord,
  kind: string,
  target: number,
  hostable: ReadonlySet<number>,
): OperatorSpec | undefined => {
  const voters = group.replicas.filter((r) => r.role === "voter").map((r) => r.id)
  const from = voters[0]!
  if (kind === "transfer") {
    const to = voters[1]
    return to === undefined
      ? undefined
      : { _tag: "TransferLeader", group: group.id, from, to, reason: "balance-leaders" }
  }
  if (kind === "remove") return { _tag: "RemoveReplica", group: group.id, replica: from, reason: "drain" }
  if (!hostable.has(target) || group.replicas.some((r) => nodeOfReplica(r.id) === target)) return undefined
  return { _tag: "MoveReplica", group: group.id, from, node: NodeId(target), reason: "balance-replicas" }
}

/** What the alive nodes (heard from within the heartbeat timeout, not down or removed) report. */
export const reportsOf = (state: ClusterState, staleGroups: ReadonlySet<number> = new Set()): NodeLoad[] => {
  const alive = new Set(
    state.nodes
      .filter(
        (n) => (n.state === "up" || n.state === "draining") && NOW - n.lastHeartbeat <= HEARTBEAT_TIMEOUT,
      )
      .map((n) => n.id as number),
  )
  const byNode = new Map<number, ReplicaReport[]>()
  for (const g of state.groups) {
    const voters = g.replicas.filter((r) => r.role === "voter").map((r) => r.id)
    for (const r of g.replicas) {
      const node = nodeOfReplica(r.id)
      if (!alive.has(node) || r.role === "joining") continue
      const leads = r.id === g.leaderHint
      const list = byNode.get(node) ?? []
      list.push({
        group: g.id,
        replica: r.id,
        role: r.role === "voter" ? "voter" : "learner",
        leader: leads,
        term: g.leaderTerm,
        applied: 100,
        sizeBytes: 1,
        membership: leads
          ? {
              confVersion: g.confVersion + (staleGroups.has(g.id) ? 1 : 0),
              voters: g.joint ? voters.slice(0, 1) : voters,
              learners: g.replicas.filter((x) => x.role === "learner").map((x) => x.id),
              votersOutgoing: g.joint ? voters : [],
              learnersNext: [],
              autoLeave: true,
            }
          : undefined,
      })
      byNode.set(node, list)
    }
  }
  return [...byNode].map(([node, replicas]) => ({ node: NodeId(node), at: NOW, replicas }))
}

/** Generated planner inputs. */
export const plannerInput: fc.Arbitrary<PlannerInput> = rawCluster.map(buildInput)

/**
 * Healthy, zone-labelled clusters whose groups all sit on the first nodes (as after new nodes
 * joined): every node up and heard from, no operator in flight, zones distinct within a group.
 * Plans on these are mostly balance moves and leader transfers under zone rules.
 */
export const healthyInput: fc.Arbitrary<PlannerInput> = fc
  .record({
    zones: fc.array(fc.constantFrom("a", "b", "c", "d"), { minLength: 3, maxLength: 8 }),
    occupied: fc.integer({ min: 2, max: 5 }),
    rf: fc.integer({ min: 1, max: 3 }),
    groups: fc.array(
      fc.record({ hosts: fc.shuffledSubarray([1, 2, 3, 4, 5], { minLength: 1 }), leader: fc.nat(4) }),
      { minLength: 1, maxLength: 16 },
    ),
    maxOperatorsPerNode: fc.integer({ min: 1, max: 4 }),
  })
  .map((h) => {
    const occupied = Math.min(h.occupied, h.zones.length)
    const groups = h.groups.map((g) => {
      const used = new Set<string>()
      const hosts = g.hosts
        .filter((x) => x <= occupied)
        .filter((x) => !used.has(h.zones[x - 1]!) && used.add(h.zones[x - 1]!) !== undefined)
        .slice(0, h.rf)
      return {
        hosts: hosts.length === 0 ? [1] : hosts,
        roles: ["voter", "voter", "voter", "voter", "voter"] as ReplicaRole[],
        generations: [0, 0, 0, 0, 0],
        joint: false,
        leader: g.leader,
        confVersion: 0,
        staleReport: false,
        op: null,
      }
    })
    return buildInput({
      nodes: h.zones.map((zone) => ({ state: "up" as const, silence: 0, zone, labelled: true })),
      zoned: true,
      rf: h.rf,
      metaTargetSize: 3,
      maxOperatorsPerNode: h.maxOperatorsPerNode,
      maxOperatorsPerCluster: 32,
      meta: groups[0]!,
      groups: groups.slice(1),
    })
  })

/** Either kind of input. */
export const anyInput: fc.Arbitrary<PlannerInput> = fc.oneof(plannerInput, healthyInput)
