/**
 * The commands of the metadata group and their responses, as Schemas, with the codecs that
 * turn them into log entry bytes (JSON through Schema: the metadata group's rate is low and
 * JSON keeps the log readable).
 *
 * CONTRACT: a command carries every input `apply` needs. Times are stamped by the proposer
 * (`at`), never read from a clock while applying; ids are allocated by `apply` from counters in
 * the state. Two replicas applying the same bytes therefore reach the same state and answer
 * the same response.
 */
import { type Either, Schema } from "effect"
import { Labels, NodeState, SettingsFields } from "./ClusterState.js"
import { Count, GroupIdSchema, Millis, NodeIdSchema, ReplicaIdSchema } from "./IdSchemas.js"
import { decodeJson, decodeJsonOrThrow, encodeJson } from "./JsonCodec.js"
import { type MalformedRequest, MetaError } from "./MetaErrors.js"
import { OperatorSpec } from "./Operator.js"

/** Some settings; the rest keep their value. */
export const SettingsPatch = Schema.partial(SettingsFields)
/** See `SettingsPatch`. */
export type SettingsPatch = typeof SettingsPatch.Type

/** Creates the cluster: the proposer becomes node 1 and the metadata group's only voter. */
export const Bootstrap = Schema.TaggedStruct("Bootstrap", {
  cluster: Schema.String,
  token: Schema.String,
  name: Schema.String,
  labels: Labels,
  /** The state machine kinds the node hosts (absent: the KV store only). */
  kinds: Schema.optional(Schema.Array(Schema.String)),
  settings: SettingsPatch,
  at: Millis,
})

/** A node asks for its id. The same token gets the same id back: a restart rejoins as itself. */
export const RegisterNode = Schema.TaggedStruct("RegisterNode", {
  token: Schema.String,
  name: Schema.String,
  labels: Labels,
  /** The state machine kinds the node hosts (absent: the KV store only). */
  kinds: Schema.optional(Schema.Array(Schema.String)),
  at: Millis,
})

/** The node was heard from at `at`. Brings a `down` node back `up`. */
export const Heartbeat = Schema.TaggedStruct("Heartbeat", { node: NodeIdSchema, at: Millis })

/** Moves a node through its life cycle (legal transitions only, see docs/placement.md). */
export const SetNodeState = Schema.TaggedStruct("SetNodeState", {
  node: NodeIdSchema,
  state: NodeState,
  at: Millis,
})

/** Changes some settings. */
export const UpdateSettings = Schema.TaggedStruct("UpdateSettings", { settings: SettingsPatch })

/**
 * Creates a keyspace of `shards` groups with `replicationFactor` voters each (0: the default),
 * running state machine kind `kind` (absent: the KV store).
 */
export const CreateKeyspace = Schema.TaggedStruct("CreateKeyspace", {
  name: Schema.String,
  shards: Count,
  replicationFactor: Count,
  kind: Schema.optional(Schema.String),
  at: Millis,
})

/**
 * Deletes a keyspace for good: it leaves the shard map with its groups, and the operators in
 * flight on them end (rolled back, cause "keyspace deleted"). Every node hosting a replica of
 * them sees it unlisted in the next map and removes it, wiping its log and snapshot
 * (docs/decisions/0105). The name is free again at once; group ids are never reused.
 */
export const DeleteKeyspace = Schema.TaggedStruct("DeleteKeyspace", { name: Schema.String, at: Millis })

/** Changes the number of voters the planner keeps for every shard of a keyspace. */
export const SetReplicationFactor = Schema.TaggedStruct("SetReplicationFactor", {
  keyspace: Schema.String,
  replicationFactor: Count,
})

/**
 * Allocates a new replica of `group` on `node` (role `joining`) with a fresh generation. With
 * `operator` (non-zero) the replica is the one that operator adds; asking again returns the
 * same replica, so a driver may retry after a leader change.
 */
export const AddLearner = Schema.TaggedStruct("AddLearner", {
  group: GroupIdSchema,
  node: NodeIdSchema,
  operator: Count,
})

/** Records that the group promoted a learner to voter in the configuration change at `confVersion`. */
export const PromoteLearner = Schema.TaggedStruct("PromoteLearner", {
  group: GroupIdSchema,
  replica: ReplicaIdSchema,
  confVersion: Count,
})

/**
 * Records that the group removed a replica in the configuration change at `confVersion`; or,
 * for a `joining` replica the group never added, releases it (`confVersion` is then ignored).
 */
export const DropReplica = Schema.TaggedStruct("DropReplica", {
  group: GroupIdSchema,
  replica: ReplicaIdSchema,
  confVersion: Count,
})

/**
 * Records the group's applied configuration (as its leader reports it) at `confVersion`, the
 * log index of that configuration change. Replaces the roles of every replica; `joining`
 * replicas the configuration does not list yet stay `joining`.
 */
export const RecordMembership = Schema.TaggedStruct("RecordMembership", {
  group: GroupIdSchema,
  confVersion: Count,
  voters: Schema.Array(ReplicaIdSchema),
  learners: Schema.Array(ReplicaIdSchema),
  votersOutgoing: Schema.Array(ReplicaIdSchema),
  learnersNext: Schema.Array(ReplicaIdSchema),
})

/** The group's leader as of `term`. */
export const SetLeaderHint = Schema.TaggedStruct("SetLeaderHint", {
  group: GroupIdSchema,
  leader: ReplicaIdSchema,
  term: Count,
})

/** Records a new operator; refused while another one is in flight on the same group. */
export const StartOperator = Schema.TaggedStruct("StartOperator", { spec: OperatorSpec, at: Millis })

/** Records the step an operator reached (for the operator list). */
export const StepOperator = Schema.TaggedStruct("StepOperator", {
  id: Count,
  step: Schema.String,
  at: Millis,
})

/**
 * Ends an operator. A running operator can only succeed; a rolling-back one either rolled
 * back or, past its point of no return, completed.
 */
export const FinishOperator = Schema.TaggedStruct("FinishOperator", {
  id: Count,
  outcome: Schema.Literal("succeeded", "rolled-back"),
  at: Millis,
})

/** Starts rolling a running operator back, for `cause`. */
export const RollbackOperator = Schema.TaggedStruct("RollbackOperator", {
  id: Count,
  cause: Schema.String,
  at: Millis,
})

/** Starts rolling back a running operator whose deadline has passed (`at` must be past it). */
export const TimeoutOperator = Schema.TaggedStruct("TimeoutOperator", { id: Count, at: Millis })

/** Every command of the metadata group. */
export const MetaCommand = Schema.Union(
  Bootstrap,
  RegisterNode,
  Heartbeat,
  SetNodeState,
  UpdateSettings,
  CreateKeyspace,
  DeleteKeyspace,
  SetReplicationFactor,
  AddLearner,
  PromoteLearner,
  DropReplica,
  RecordMembership,
  SetLeaderHint,
  StartOperator,
  StepOperator,
  FinishOperator,
  RollbackOperator,
  TimeoutOperator,
)
/** See `MetaCommand`. */
export type MetaCommand = typeof MetaCommand.Type

/** The command applied; nothing to report but the shard map version after it. */
export const Done = Schema.TaggedStruct("Done", { shardMapVersion: Count })

/** The cluster exists; the proposer is `node` and hosts the metadata group's `replica`. */
export const Bootstrapped = Schema.TaggedStruct("Bootstrapped", {
  node: NodeIdSchema,
  replica: ReplicaIdSchema,
})

/** The node's id; `rejoined` when the token was known already. */
export const NodeRegistered = Schema.TaggedStruct("NodeRegistered", {
  node: NodeIdSchema,
  rejoined: Schema.Boolean,
})

/** The groups of the new keyspace, in slot order. */
export const KeyspaceCreated = Schema.TaggedStruct("KeyspaceCreated", {
  name: Schema.String,
  groups: Schema.Array(GroupIdSchema),
})

/** The keyspace is gone; these were its groups, in slot order. */
export const KeyspaceDeleted = Schema.TaggedStruct("KeyspaceDeleted", {
  name: Schema.String,
  groups: Schema.Array(GroupIdSchema),
})

/** The replica allocated by `AddLearner`. */
export const ReplicaAllocated = Schema.TaggedStruct("ReplicaAllocated", {
  group: GroupIdSchema,
  replica: ReplicaIdSchema,
})

/** The id and deadline of a started operator. */
export const OperatorStarted = Schema.TaggedStruct("OperatorStarted", { id: Count, deadline: Millis })

/** Every response of `apply`: a success, or a `MetaError`. */
export const MetaResponse = Schema.Union(
  Done,
  Bootstrapped,
  NodeRegistered,
  KeyspaceCreated,
  KeyspaceDeleted,
  ReplicaAllocated,
  OperatorStarted,
  MetaError,
)
/** See `MetaResponse`. */
export type MetaResponse = typeof MetaResponse.Type

/** A command as log entry bytes. */
export const encodeCommand: (command: MetaCommand) => Uint8Array = encodeJson(MetaCommand)

/** Log entry bytes as a command, or the `MalformedRequest` every replica answers. */
export const decodeCommand: (bytes: Uint8Array) => Either.Either<MetaCommand, MalformedRequest> =
  decodeJson(MetaCommand)

/** A response as bytes. */
export const encodeResponse: (response: MetaResponse) => Uint8Array = encodeJson(MetaResponse)

/** Response bytes back as a response; throws on bytes no state machine produced. */
export const decodeResponse: (bytes: Uint8Array) => MetaResponse = decodeJsonOrThrow(MetaResponse)
