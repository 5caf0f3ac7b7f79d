/**
 * Command handlers for the cluster and its nodes: bootstrap, registration, heartbeats, the node
 * life cycle and settings.
 *
 * Node life cycle (any other change is an `IllegalTransition`; setting the current state again
 * is accepted and changes nothing):
 *
 * ```
 *   up ──────► down ──────► up            (a heartbeat newer than the change also brings it up)
 *   up ──────► draining ──► up            (drain cancelled)
 *   down ────► draining
 *   draining ► removed, down ► removed    (only once the node hosts no replica)
 * ```
 *
 * `removed` is final: the id is never reused, and the token can never register again.
 */
import { MAX_NODE_ID, NodeId, nodeOfReplica, replicaIdOf } from "../raft/Ids.js"
import {
  bisect,
  type ClusterState,
  DEFAULT_KEYSPACE_KIND,
  defaultSettings,
  type GroupRecord,
  META_GROUP,
  type NodeRecord,
  type NodeState,
  replaceAt,
} from "./ClusterState.js"
import {
  checkClusterName,
  checkIdentity,
  isInvalid,
  normalizeKinds,
  normalizeLabels,
  patchSettings,
} from "./CommandChecks.js"
import { accept, bumpShardMap, type CommandOutcome, refuse } from "./CommandOutcome.js"
import {
  type Bootstrap,
  Bootstrapped,
  type Heartbeat,
  NodeRegistered,
  type RegisterNode,
  type SetNodeState,
  type UpdateSettings,
} from "./MetaCommand.js"
import {
  AlreadyBootstrapped,
  IllegalTransition,
  NodeIdsExhausted,
  NodeNotEmpty,
  NodeRemoved,
  UnknownNode,
} from "./MetaErrors.js"
import { targetNode } from "./Operator.js"

/** Creates the cluster with the proposer as node 1, sole voter of the metadata group. */
export const applyBootstrap = (state: ClusterState, cmd: typeof Bootstrap.Type): CommandOutcome => {
  if (state.bootstrapped) return refuse(state, new AlreadyBootstrapped({ cluster: state.cluster }))
  const bad = checkClusterName(cmd.cluster) ?? checkIdentity(cmd.token, cmd.name)
  if (bad) return refuse(state, bad)
  const labels = normalizeLabels(cmd.labels)
  if (isInvalid(labels)) return refuse(state, labels)
  const settings = patchSettings(defaultSettings, cmd.settings)
  if (isInvalid(settings)) return refuse(state, settings)
  const kinds = normalizeKinds(cmd.kinds ?? [DEFAULT_KEYSPACE_KIND])
  if (isInvalid(kinds)) return refuse(state, kinds)
  const node = NodeId(1)
  const replica = replicaIdOf(node, 0)
  const meta: GroupRecord = {
    id: META_GROUP,
    keyspace: "",
    replicas: [{ id: replica, role: "voter" }],
    joint: false,
    confVersion: 0,
    leaderHint: replica,
    leaderTerm: 0,
    nextGeneration: 1,
  }
  const next: ClusterState = {
    ...state,
    cluster: cmd.cluster,
    bootstrapped: true,
    shardMapVersion: state.shardMapVersion + 1,
    nextNodeId: 2,
    settings,
    nodes: [newNode(node, cmd.token, cmd.name, labels, kinds, cmd.at)],
    groups: [meta],
  }
  return accept(next, Bootstrapped.make({ node, replica }))
}

const newNode = (
  id: NodeId,
  token: string,
  name: string,
  labels: NodeRecord["labels"],
  kinds: ReadonlyArray<string>,
  at: number,
): NodeRecord => ({
  id,
  token,
  name,
  labels,
  kinds,
  state: "up",
  registeredAt: at,
  lastHeartbeat: at,
  stateSince: at,
})

/**
 * Registers a node, or recognises a known token: then the node keeps its id (it rejoins as
 * itself), its name, labels and kinds are updated and it counts as heard from at `at`.
 */
export const applyRegister = (state: ClusterState, cmd: typeof RegisterNode.Type): CommandOutcome => {
  const bad = checkIdentity(cmd.token, cmd.name)
  if (bad) return refuse(state, bad)
  const labels = normalizeLabels(cmd.labels)
  if (isInvalid(labels)) return refuse(state, labels)
  const kinds = normalizeKinds(cmd.kinds ?? [DEFAULT_KEYSPACE_KIND])
  if (isInvalid(kinds)) return refuse(state, kinds)
  const at = state.nodes.findIndex((n) => n.token === cmd.token)
  if (at >= 0) {
    const known = state.nodes[at]!
    if (known.state === "removed") return refuse(state, new NodeRemoved({ node: known.id }))
    const updated = heard({ ...known, name: cmd.name, labels, kinds }, cmd.at)
    return accept(
      { ...state, nodes: replaceAt(state.nodes, at, updated) },
      NodeRegistered.make({ node: known.id, rejoined: true }),
    )
  }
  if (state.nextNodeId > MAX_NODE_ID) return refuse(state, new NodeIdsExhausted())
  const id = NodeId(state.nextNodeId)
  const next: ClusterState = {
    ...state,
    nextNodeId: state.nextNodeId + 1,
    nodes: [...state.nodes, newNode(id, cmd.token, cmd.name, labels, kinds, cmd.at)],
  }
  return accept(next, NodeRegistered.make({ node: id, rejoined: false }))
}

/** The node as heard from at `at`: a heartbeat never moves time back, and revives a `down` node. */
const heard = (node: NodeRecord, at: number): NodeRecord => {
  const lastHeartbeat = Math.max(node.lastHeartbeat, at)
  if (node.state === "down" && at > node.stateSince) {
    return { ...node, lastHeartbeat, state: "up", stateSince: at }
  }
  return { ...node, lastHeartbeat }
}

/** Records a heartbeat. */
export const applyHeartbeat = (state: ClusterState, cmd: typeof Heartbeat.Type): CommandOutcome => {
  const at = bisect(state.nodes, cmd.node, (n) => n.id)
  const node = state.nodes[at]
  if (node === undefined) return refuse(state, new UnknownNode({ node: cmd.node }))
  if (node.state === "removed") return refuse(state, new NodeRemoved({ node: node.id }))
  return accept({ ...state, nodes: replaceAt(state.nodes, at, heard(node, cmd.at)) })
}

const LEGAL: Readonly<Record<NodeState, ReadonlyArray<NodeState>>> = {
  up: ["down", "draining"],
  down: ["up", "draining", "removed"],
  draining: ["up", "removed"],
  removed: [],
}

/** True when the node life cycle allows `from → to` (see the module comment). */
export const isLegalTransition = (from: NodeState, to: NodeState): boolean => LEGAL[from].includes(to)

/** Moves a node through its life cycle. */
export const applySetNodeState = (state: ClusterState, cmd: typeof SetNodeState.Type): CommandOutcome => {
  const at = bisect(state.nodes, cmd.node, (n) => n.id)
  const node = state.nodes[at]
  if (node === undefined) return refuse(state, new UnknownNode({ node: cmd.node }))
  if (node.state === cmd.state) return accept(state)
  if (!isLegalTransition(node.state, cmd.state)) {
    return refuse(state, new IllegalTransition({ node: node.id, from: node.state, to: cmd.state }))
  }
  if (cmd.state === "removed") {
    const hosted = replicasOn(state, node.id)
    if (hosted > 0) return refuse(state, new NodeNotEmpty({ node: node.id, replicas: hosted }))
  }
  const updated: NodeRecord = { ...node, state: cmd.state, stateSince: cmd.at }
  return accept({ ...state, nodes: replaceAt(state.nodes, at, updated) })
}

/** Replicas (any role, any group) on a node, plus the replicas operators in flight are adding there. */
export const replicasOn = (state: ClusterState, node: NodeId): number => {
  let count = 0
  for (const g of state.groups) {
    for (const r of g.replicas) if (nodeOfReplica(r.id) === node) count++
  }
  for (const op of state.operators) {
    if (op.newReplica === 0 && targetNode(op.spec) === node) count++
  }
  return count
}

/** Changes settings. The shard map version moves: the replication factor is part of it. */
export const applyUpdateSettings = (state: ClusterState, cmd: typeof UpdateSettings.Type): CommandOutcome => {
  const settings = patchSettings(state.settings, cmd.settings)
  if (isInvalid(settings)) return refuse(state, settings)
  return accept(bumpShardMap({ ...state, settings }))
}
