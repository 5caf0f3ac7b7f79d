/**
 * The metadata group's state: the cluster as the metadata group records it. Every type here is
 * a `Schema`, because the state crosses process boundaries three ways: in commands (pieces of
 * it), in snapshots (all of it) and in answers to `flotilla.<cluster>.meta` queries.
 *
 * The state is an immutable value. Collections are arrays sorted by id (ids are allocated in
 * increasing order, so appending keeps them sorted); `findNode` and `findGroup` search them
 * by bisection. A change copies the array it touches, which is cheap at the metadata group's
 * low command rate and keeps every state value safe to hand to the planner while the next
 * command applies (docs/decisions/0030).
 *
 * CONTRACT: the state machine only ever produces states with sorted, duplicate-free `nodes`,
 * `groups`, `keyspaces` and `operators`, and a group's `replicas` sorted by replica id.
 */
import { Schema } from "effect"
import { GroupId } from "../raft/Ids.js"
import type { ReplicaId } from "../raft/Types.js"
import { Count, GroupIdSchema, Millis, NodeIdSchema, ReplicaIdSchema, ReplicaRefSchema } from "./IdSchemas.js"
import { OperatorRecord } from "./Operator.js"

/**
 * The recorded state of a node.
 * - `up`: serving; may receive new replicas.
 * - `down`: stopped heartbeating; receives nothing, its replicas are replaced once it has been
 *   silent longer than the down timeout. A heartbeat brings it back `up`.
 * - `draining`: an operator asked for it to be emptied; its replicas move elsewhere.
 * - `removed`: gone for good. Its id is never reused and it can never register again.
 */
export const NodeState = Schema.Literal("up", "down", "draining", "removed")
/** See `NodeState`. */
export type NodeState = typeof NodeState.Type

/** Free-form node labels. The label `zone` drives zone-aware placement. */
export const Labels = Schema.Record({ key: Schema.String, value: Schema.String })
/** See `Labels`. */
export type Labels = typeof Labels.Type

/** The label key that names a node's failure domain. */
export const ZONE_LABEL = "zone"

/** The state machine kind of keyspaces created without one: the KV store (shards/kv). */
export const DEFAULT_KEYSPACE_KIND = "kv"

/** One node of the cluster. */
export const NodeRecord = Schema.Struct({
  id: NodeIdSchema,
  /** Identity token chosen by the node and kept in its data directory: a restart with the same token rejoins as the same node. */
  token: Schema.String,
  /** Human-readable name (host name, pod name). */
  name: Schema.String,
  labels: Labels,
  state: NodeState,
  registeredAt: Millis,
  /** Proposer time of the last heartbeat (or of registration). */
  lastHeartbeat: Millis,
  /** Proposer time of the last change of `state`. */
  stateSince: Millis,
  /**
   * The state machine kinds the node hosts besides the metadata group's, as it registered them.
   * Records written before the field existed decode as hosting the KV store only.
   */
  kinds: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [DEFAULT_KEYSPACE_KIND] }),
})
/** See `NodeRecord`. */
export interface NodeRecord extends Schema.Schema.Type<typeof NodeRecord> {}

/**
 * The role of a replica in its group.
 * - `voter`, `learner`: as in the group's applied configuration (an outgoing voter of a joint
 *   configuration is a `voter` until the joint configuration is left).
 * - `joining`: allocated by the metadata group for a learner that the group has not added yet.
 *   It is listed so that its node creates the replica when the group's leader first contacts it.
 */
export const ReplicaRole = Schema.Literal("voter", "learner", "joining")
/** See `ReplicaRole`. */
export type ReplicaRole = typeof ReplicaRole.Type

/** One replica of a group: the hosting node is `nodeOfReplica(id)`. */
export const Replica = Schema.Struct({ id: ReplicaIdSchema, role: ReplicaRole })
/** See `Replica`. */
export interface Replica extends Schema.Schema.Type<typeof Replica> {}

/** A Raft group as recorded: group 0 is the metadata group, every other group is one shard. */
export const GroupRecord = Schema.Struct({
  id: GroupIdSchema,
  /** The keyspace the shard belongs to; "" for the metadata group. */
  keyspace: Schema.String,
  replicas: Schema.Array(Replica),
  /** True while the last recorded configuration is joint. */
  joint: Schema.Boolean,
  /** Log index of the group's last recorded configuration change (0: the initial configuration). */
  confVersion: Count,
  /** The replica believed to lead (0: unknown). On creation: the replica to campaign first. */
  leaderHint: ReplicaRefSchema,
  /** Term of `leaderHint`; older hints are refused. */
  leaderTerm: Count,
  /** Generation of the next replica allocated for this group: every new replica id is fresh. */
  nextGeneration: Count,
})
/** See `GroupRecord`. */
export interface GroupRecord extends Schema.Schema.Type<typeof GroupRecord> {}

/** The hash slots `[start, end)` a shard serves. */
export const ShardRange = Schema.Struct({ group: GroupIdSchema, start: Count, end: Count })
/** See `ShardRange`. */
export interface ShardRange extends Schema.Schema.Type<typeof ShardRange> {}

/** The state machine kind of the metadata group itself; no keyspace may use it. */
export const META_KIND = "meta"

/** A keyspace: the slot space split into shards, each a group with `replicationFactor` voters. */
export const Keyspace = Schema.Struct({
  name: Schema.String,
  /**
   * The state machine kind every shard of the keyspace runs (a `ShardKind` name the nodes
   * know). Snapshots written before the field existed decode as the KV store.
   */
  kind: Schema.optionalWith(Schema.String, { default: () => DEFAULT_KEYSPACE_KIND }),
  replicationFactor: Count,
  createdAt: Millis,
  /** Sorted by `start`; together they cover `[0, SLOT_COUNT)` without gaps or overlaps. */
  shards: Schema.Array(ShardRange),
})
/** See `Keyspace`. */
export interface Keyspace extends Schema.Schema.Type<typeof Keyspace> {}

/** The fields of `Settings`, every one required (`SettingsPatch` makes them all optional). */
export const SettingsFields = Schema.Struct({
  /** Voters per shard for keyspaces created without an explicit factor. */
  replicationFactor: Count,
  /** Voters of the metadata group when enough nodes are available: 3 or 5. */
  metaTargetSize: Schema.Literal(3, 5),
  /** A node silent this long is suspect: it takes no new replicas and does not count as alive. */
  heartbeatTimeoutMs: Millis,
  /** A node silent this long has its replicas replaced elsewhere. */
  downTimeoutMs: Millis,
  /** A replica operator not past its point of no return by then is rolled back. */
  operatorTimeoutMs: Millis,
  /** A leader transfer not done by then is abandoned. */
  transferTimeoutMs: Millis,
  /** Operators in flight that may involve one node at once. */
  maxOperatorsPerNode: Count,
  /** Operators in flight in the whole cluster at once. */
  maxOperatorsPerCluster: Count,
  /** A learner this many entries or fewer behind the leader counts as caught up. */
  catchUpLagEntries: Count,
  /**
   * Replicas one node may host (every group's, the metadata group's included): a keyspace whose
   * replicas would not fit on the nodes that host its kind is refused.
   */
  maxReplicasPerNode: Count,
})

/** Cluster-wide settings, changed through the log like everything else. */
export const Settings = Schema.Struct({
  ...SettingsFields.fields,
  // Settings written before the field existed decode with the default.
  maxReplicasPerNode: Schema.optionalWith(Count, { default: () => DEFAULT_MAX_REPLICAS_PER_NODE }),
})
/** See `Settings`. */
export interface Settings extends Schema.Schema.Type<typeof Settings> {}

/** See `Settings.maxReplicasPerNode`. */
export const DEFAULT_MAX_REPLICAS_PER_NODE = 4096

/** The settings of a freshly bootstrapped cluster. */
export const defaultSettings: Settings = {
  replicationFactor: 3,
  metaTargetSize: 3,
  heartbeatTimeoutMs: 10_000,
  downTimeoutMs: 60_000,
  operatorTimeoutMs: 600_000,
  transferTimeoutMs: 30_000,
  maxOperatorsPerNode: 4,
  maxOperatorsPerCluster: 32,
  catchUpLagEntries: 64,
  maxReplicasPerNode: DEFAULT_MAX_REPLICAS_PER_NODE,
}

/** How many finished operators the state keeps for the operator list. */
export const OPERATOR_HISTORY = 64

/** Everything the metadata group knows. */
export const ClusterState = Schema.Struct({
  /** Snapshot format; bumped when the shape changes. */
  format: Schema.Literal(1),
  /** The cluster's name ("" before bootstrap). */
  cluster: Schema.String,
  bootstrapped: Schema.Boolean,
  /** Bumped on every change a client or node routing by the shard map must see. */
  shardMapVersion: Count,
  nextNodeId: Count,
  nextGroupId: Count,
  nextOperatorId: Count,
  settings: Settings,
  nodes: Schema.Array(NodeRecord),
  groups: Schema.Array(GroupRecord),
  keyspaces: Schema.Array(Keyspace),
  /** Operators in flight, by id. */
  operators: Schema.Array(OperatorRecord),
  /** The last `OPERATOR_HISTORY` finished operators, oldest first. */
  history: Schema.Array(OperatorRecord),
})
/** See `ClusterState`. */
export interface ClusterState extends Schema.Schema.Type<typeof ClusterState> {}

/** The metadata group's id. */
export const META_GROUP: GroupId = GroupId(0)

/** The state of a metadata group that has not been bootstrapped. */
export const emptyClusterState: ClusterState = {
  format: 1,
  cluster: "",
  bootstrapped: false,
  shardMapVersion: 0,
  nextNodeId: 1,
  nextGroupId: 1,
  nextOperatorId: 1,
  settings: defaultSettings,
  nodes: [],
  groups: [],
  keyspaces: [],
  operators: [],
  history: [],
}

/** Index of the element with `key(element) === id` in an array sorted by key, or -1. */
export const bisect = <A>(items: ReadonlyArray<A>, id: number, key: (a: A) => number): number => {
  let lo = 0
  let hi = items.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const k = key(items[mid]!)
    if (k === id) return mid
    if (k < id) lo = mid + 1
    else hi = mid - 1
  }
  return -1
}

/** The node with this id, if recorded. */
export const findNode = (state: ClusterState, id: number): NodeRecord | undefined =>
  state.nodes[bisect(state.nodes, id, (n) => n.id)]

/** The group with this id, if recorded. */
export const findGroup = (state: ClusterState, id: number): GroupRecord | undefined =>
  state.groups[bisect(state.groups, id, (g) => g.id)]

/** The keyspace with this name, if any. */
export const findKeyspace = (state: ClusterState, name: string): Keyspace | undefined =>
  state.keyspaces.find((k) => k.name === name)

/** The voters a group should have: the keyspace's factor, or the metadata group's target size. */
export const replicationTarget = (state: ClusterState, group: GroupRecord): number =>
  group.id === META_GROUP
    ? state.settings.metaTargetSize
    : (findKeyspace(state, group.keyspace)?.replicationFactor ?? state.settings.replicationFactor)

/** The zone label of a node ("" when unlabelled). */
export const zoneOf = (node: NodeRecord): string => node.labels[ZONE_LABEL] ?? ""

/** The voters of a group. */
export const votersOf = (group: GroupRecord): ReplicaId[] =>
  group.replicas.filter((r) => r.role === "voter").map((r) => r.id)

/** Returns `items` with the element at `at` replaced by `item` (a copy). */
export const replaceAt = <A>(items: ReadonlyArray<A>, at: number, item: A): A[] => {
  const copy = items.slice()
  copy[at] = item
  return copy
}
