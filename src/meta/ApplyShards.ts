/**
 * Command handlers for keyspaces and groups: creating a keyspace (its groups and their initial
 * placement), replication factors, replica allocation, the group memberships the driver
 * observes, and leader hints. Every change a router must see bumps the shard map version.
 */
import {
  GroupId,
  generationOfReplica,
  MAX_GROUP_ID,
  type NodeId,
  nodeOfReplica,
  replicaIdOf,
} from "../raft/Ids.js"
import type { ReplicaId } from "../raft/Types.js"
import { hostsKind, nodeHealth, placeGroups, placementCandidates, replicaCounts } from "./Allocation.js"
import {
  bisect,
  type ClusterState,
  DEFAULT_KEYSPACE_KIND,
  findKeyspace,
  findNode,
  type GroupRecord,
  type Keyspace,
  type Replica,
  type ReplicaRole,
  replaceAt,
} from "./ClusterState.js"
import { checkKeyspaceName, checkKindName, checkReplicationFactor } from "./CommandChecks.js"
import { accept, bumpShardMap, type CommandOutcome, refuse } from "./CommandOutcome.js"
import {
  type AddLearner,
  type CreateKeyspace,
  type DropReplica,
  KeyspaceCreated,
  type PromoteLearner,
  type RecordMembership,
  ReplicaAllocated,
  type SetLeaderHint,
  type SetReplicationFactor,
} from "./MetaCommand.js"
import {
  GroupIdsExhausted,
  InvalidArgument,
  KeyspaceExists,
  NodeUnavailable,
  NotEnoughCapacity,
  NotEnoughNodes,
  OperatorMismatch,
  ReplicaExists,
  StaleLeaderHint,
  StaleMembership,
  UnknownGroup,
  UnknownKeyspace,
  UnknownKind,
  UnknownNode,
  UnknownOperator,
  UnknownReplica,
} from "./MetaErrors.js"
import { SLOT_COUNT, splitSlots } from "./Slots.js"

/** Creates a keyspace: allocates its groups, splits the slots, places the replicas. */
export const applyCreateKeyspace = (state: ClusterState, cmd: typeof CreateKeyspace.Type): CommandOutcome => {
  const badName = checkKeyspaceName(cmd.name)
  if (badName) return refuse(state, badName)
  if (findKeyspace(state, cmd.name)) return refuse(state, new KeyspaceExists({ name: cmd.name }))
  if (cmd.shards < 1 || cmd.shards > SLOT_COUNT) {
    return refuse(state, new InvalidArgument({ message: `shards must be in 1..${SLOT_COUNT}` }))
  }
  const kind = cmd.kind ?? DEFAULT_KEYSPACE_KIND
  const badKind = checkKindName(kind)
  if (badKind) return refuse(state, badKind)
  const rf = cmd.replicationFactor === 0 ? state.settings.replicationFactor : cmd.replicationFactor
  const badRf = checkReplicationFactor(rf)
  if (badRf) return refuse(state, badRf)
  if (state.nextGroupId + cmd.shards - 1 > MAX_GROUP_ID) return refuse(state, new GroupIdsExhausted())
  const admitted = admitKeyspace(state, kind, cmd.shards * rf, rf, cmd.at)
  if (admitted) return refuse(state, admitted)
  const placements = placeGroups(state, cmd.shards, rf, cmd.at, kind)
  if (placements === undefined) {
    // The totals fit but no assignment does (zones, or capacity left on too few nodes).
    const free = freeCapacity(state, kind, cmd.at)
    return refuse(
      state,
      new NotEnoughCapacity({
        needed: cmd.shards * rf,
        available: free,
        maxReplicasPerNode: state.settings.maxReplicasPerNode,
      }),
    )
  }
  const ranges = splitSlots(cmd.shards)
  const groups: GroupRecord[] = placements.map((p, i) => {
    const leader = replicaIdOf(p.leader, 0)
    return {
      id: GroupId(state.nextGroupId + i),
      keyspace: cmd.name,
      replicas: p.nodes.map((n): Replica => ({ id: replicaIdOf(n, 0), role: "voter" })),
      joint: false,
      confVersion: 0,
      leaderHint: leader,
      leaderTerm: 0,
      nextGeneration: 1,
    }
  })
  const keyspace: Keyspace = {
    name: cmd.name,
    kind,
    replicationFactor: rf,
    createdAt: cmd.at,
    shards: ranges.map((r, i) => ({ group: groups[i]!.id, start: r.start, end: r.end })),
  }
  const keyspaces = [...state.keyspaces, keyspace].sort((a, b) => (a.name < b.name ? -1 : 1))
  const next: ClusterState = {
    ...state,
    nextGroupId: state.nextGroupId + cmd.shards,
    groups: [...state.groups, ...groups],
    keyspaces,
  }
  return accept(bumpShardMap(next), KeyspaceCreated.make({ name: cmd.name, groups: groups.map((g) => g.id) }))
}

/**
 * Admission of `needed` new replicas of kind `kind`, `rf` per group: some node of the cluster
 * hosts the kind (`UnknownKind` names those hosted), at least `rf` up nodes host it
 * (`NotEnoughNodes`),
 * and the replicas fit under `maxReplicasPerNode` on those nodes (`NotEnoughCapacity`).
 */
const admitKeyspace = (
  state: ClusterState,
  kind: string,
  needed: number,
  rf: number,
  at: number,
): UnknownKind | NotEnoughNodes | NotEnoughCapacity | undefined => {
  const known = state.nodes.filter((n) => n.state !== "removed")
  if (!known.some((n) => hostsKind(n, kind))) {
    const hosted = [...new Set(known.flatMap((n) => n.kinds))].sort()
    return new UnknownKind({ kind, hosted })
  }
  const hosting = known.filter((n) => nodeHealth(n, state.settings, at) === "up" && hostsKind(n, kind))
  if (hosting.length < rf) return new NotEnoughNodes({ needed: rf, available: hosting.length })
  const free = freeCapacity(state, kind, at)
  if (needed > free)
    return new NotEnoughCapacity({
      needed,
      available: free,
      maxReplicasPerNode: state.settings.maxReplicasPerNode,
    })
  return undefined
}

/** Replicas the up nodes hosting `kind` can still take under `maxReplicasPerNode`. */
const freeCapacity = (state: ClusterState, kind: string, at: number): number => {
  const counts = replicaCounts(state)
  let free = 0
  for (const n of placementCandidates(state, kind, at))
    free += state.settings.maxReplicasPerNode - (counts.get(n.id) ?? 0)
  return free
}

/** Changes a keyspace's replication factor; the planner adds or removes voters to match. */
export const applySetReplicationFactor = (
  state: ClusterState,
  cmd: typeof SetReplicationFactor.Type,
): CommandOutcome => {
  const at = state.keyspaces.findIndex((k) => k.name === cmd.keyspace)
  const keyspace = state.keyspaces[at]
  if (keyspace === undefined) return refuse(state, new UnknownKeyspace({ name: cmd.keyspace }))
  const bad = checkReplicationFactor(cmd.replicationFactor)
  if (bad) return refuse(state, bad)
  const updated: Keyspace = { ...keyspace, replicationFactor: cmd.replicationFactor }
  return accept(bumpShardMap({ ...state, keyspaces: replaceAt(state.keyspaces, at, updated) }))
}

/** The group at its index, or a refusal. */
const lookupGroup = (
  state: ClusterState,
  group: number,
): { at: number; group: GroupRecord } | UnknownGroup => {
  const at = bisect(state.groups, group, (g) => g.id)
  const found = state.groups[at]
  return found === undefined ? new UnknownGroup({ group }) : { at, group: found }
}

const withGroup = (state: ClusterState, at: number, group: GroupRecord): ClusterState =>
  bumpShardMap({ ...state, groups: replaceAt(state.groups, at, group) })

const byId = (a: Replica, b: Replica) => a.id - b.id

/** Allocates a `joining` replica with a fresh generation (see `AddLearner`). */
export const applyAddLearner = (state: ClusterState, cmd: typeof AddLearner.Type): CommandOutcome => {
  const found = lookupGroup(state, cmd.group)
  if (found instanceof UnknownGroup) return refuse(state, found)
  const { at, group } = found
  const node = findNode(state, cmd.node)
  if (node === undefined) return refuse(state, new UnknownNode({ node: cmd.node }))
  let opAt = -1
  if (cmd.operator !== 0) {
    opAt = bisect(state.operators, cmd.operator, (o) => o.id)
    const op = state.operators[opAt]
    if (op === undefined) return refuse(state, new UnknownOperator({ id: cmd.operator }))
    const spec = op.spec
    const fits =
      (spec._tag === "AddReplica" || spec._tag === "MoveReplica") &&
      spec.group === cmd.group &&
      spec.node === cmd.node &&
      op.status === "running"
    if (!fits) {
      return refuse(
        state,
        new OperatorMismatch({ id: op.id, message: "not a running add or move to this node" }),
      )
    }
    if (op.newReplica !== 0)
      return accept(state, ReplicaAllocated.make({ group: group.id, replica: op.newReplica }))
  }
  if (node.state !== "up") return refuse(state, new NodeUnavailable({ node: node.id, state: node.state }))
  const existing = group.replicas.find((r) => nodeOfReplica(r.id) === node.id)
  if (existing)
    return refuse(state, new ReplicaExists({ group: group.id, node: node.id, replica: existing.id }))
  if (group.nextGeneration * 0x10000 + node.id > Number.MAX_SAFE_INTEGER) {
    return refuse(
      state,
      new InvalidArgument({ message: `group ${group.id} has used every replica generation` }),
    )
  }
  const replica = replicaIdOf(node.id, group.nextGeneration)
  const updated: GroupRecord = {
    ...group,
    replicas: [...group.replicas, { id: replica, role: "joining" as const }].sort(byId),
    nextGeneration: group.nextGeneration + 1,
  }
  let next = withGroup(state, at, updated)
  if (opAt >= 0) {
    const op = state.operators[opAt]!
    next = { ...next, operators: replaceAt(state.operators, opAt, { ...op, newReplica: replica }) }
  }
  return accept(next, ReplicaAllocated.make({ group: group.id, replica }))
}

/** Records a learner's promotion (a single, non-joint configuration change). */
export const applyPromoteLearner = (state: ClusterState, cmd: typeof PromoteLearner.Type): CommandOutcome => {
  const found = lookupGroup(state, cmd.group)
  if (found instanceof UnknownGroup) return refuse(state, found)
  const { at, group } = found
  const replica = group.replicas.find((r) => r.id === cmd.replica)
  if (replica === undefined || replica.role === "voter") {
    return refuse(state, new UnknownReplica({ group: group.id, replica: cmd.replica }))
  }
  if (cmd.confVersion <= group.confVersion) {
    return refuse(state, staleMembership(group, cmd.confVersion))
  }
  const replicas = group.replicas.map((r) => (r.id === cmd.replica ? { ...r, role: "voter" as const } : r))
  return accept(withGroup(state, at, { ...group, replicas, joint: false, confVersion: cmd.confVersion }))
}

const staleMembership = (group: GroupRecord, confVersion: number) =>
  new StaleMembership({ group: group.id, confVersion, current: group.confVersion })

/** Records a replica's removal, or releases a `joining` replica the group never added. */
export const applyDropReplica = (state: ClusterState, cmd: typeof DropReplica.Type): CommandOutcome => {
  const found = lookupGroup(state, cmd.group)
  if (found instanceof UnknownGroup) return refuse(state, found)
  const { at, group } = found
  const replica = group.replicas.find((r) => r.id === cmd.replica)
  if (replica === undefined)
    return refuse(state, new UnknownReplica({ group: group.id, replica: cmd.replica }))
  const replicas = group.replicas.filter((r) => r.id !== cmd.replica)
  if (replica.role === "joining") return accept(withGroup(state, at, { ...group, replicas }))
  if (cmd.confVersion <= group.confVersion) return refuse(state, staleMembership(group, cmd.confVersion))
  if (!replicas.some((r) => r.role === "voter")) {
    return refuse(state, new InvalidArgument({ message: `group ${group.id} would have no voter left` }))
  }
  const leaderHint = group.leaderHint === cmd.replica ? (0 as ReplicaId) : group.leaderHint
  return accept(
    withGroup(state, at, { ...group, replicas, joint: false, confVersion: cmd.confVersion, leaderHint }),
  )
}

/** Records a group's applied configuration (see `RecordMembership`). */
export const applyRecordMembership = (
  state: ClusterState,
  cmd: typeof RecordMembership.Type,
): CommandOutcome => {
  const found = lookupGroup(state, cmd.group)
  if (found instanceof UnknownGroup) return refuse(state, found)
  const { at, group } = found
  if (cmd.confVersion <= group.confVersion) return refuse(state, staleMembership(group, cmd.confVersion))
  const voters = new Set<ReplicaId>([...cmd.voters, ...cmd.votersOutgoing])
  const learners = new Set<ReplicaId>([...cmd.learners, ...cmd.learnersNext])
  if (voters.size === 0)
    return refuse(state, new InvalidArgument({ message: "a configuration needs a voter" }))
  for (const l of cmd.learners) {
    if (voters.has(l))
      return refuse(state, new InvalidArgument({ message: `replica ${l} is voter and learner` }))
  }
  const nodes = new Set<NodeId>()
  const roles = new Map<ReplicaId, ReplicaRole>()
  for (const id of [...voters, ...learners]) {
    const node = nodeOfReplica(id)
    if (findNode(state, node) === undefined) return refuse(state, new UnknownNode({ node }))
    if (roles.has(id)) continue
    if (nodes.has(node)) {
      return refuse(
        state,
        new InvalidArgument({ message: `two replicas of group ${group.id} on node ${node}` }),
      )
    }
    nodes.add(node)
    roles.set(id, voters.has(id) ? "voter" : "learner")
  }
  for (const r of group.replicas) {
    if (r.role === "joining" && !roles.has(r.id) && !nodes.has(nodeOfReplica(r.id)))
      roles.set(r.id, "joining")
  }
  const replicas = [...roles].map(([id, role]): Replica => ({ id, role })).sort(byId)
  let nextGeneration = group.nextGeneration
  for (const r of replicas) nextGeneration = Math.max(nextGeneration, generationOfReplica(r.id) + 1)
  const leaderHint = voters.has(group.leaderHint) ? group.leaderHint : (0 as ReplicaId)
  const updated: GroupRecord = {
    ...group,
    replicas,
    joint: cmd.votersOutgoing.length > 0,
    confVersion: cmd.confVersion,
    leaderHint,
    nextGeneration,
  }
  return accept(withGroup(state, at, updated))
}

/** Records who leads a group; hints from older terms are refused. */
export const applySetLeaderHint = (state: ClusterState, cmd: typeof SetLeaderHint.Type): CommandOutcome => {
  const found = lookupGroup(state, cmd.group)
  if (found instanceof UnknownGroup) return refuse(state, found)
  const { at, group } = found
  if (cmd.term < group.leaderTerm) {
    return refuse(state, new StaleLeaderHint({ group: group.id, term: cmd.term, current: group.leaderTerm }))
  }
  if (!group.replicas.some((r) => r.id === cmd.leader && r.role === "voter")) {
    return refuse(state, new UnknownReplica({ group: group.id, replica: cmd.leader }))
  }
  if (group.leaderHint === cmd.leader) {
    if (group.leaderTerm === cmd.term) return accept(state)
    return accept({ ...state, groups: replaceAt(state.groups, at, { ...group, leaderTerm: cmd.term }) })
  }
  return accept(withGroup(state, at, { ...group, leaderHint: cmd.leader, leaderTerm: cmd.term }))
}
