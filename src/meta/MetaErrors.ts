/**
 * The typed refusals of the metadata state machine. A command that cannot apply gets one of
 * these as its response; every replica computes the same one, nothing changes, and `apply`
 * never throws. They are `Schema.TaggedError`s because they travel back to the proposer (and
 * from there to admin clients over NATS).
 */
import { Schema } from "effect"
import { Count, GroupIdSchema, NodeIdSchema, ReplicaIdSchema } from "./IdSchemas.js"

/** The command bytes do not decode to a command (or a query's to a query). */
export class MalformedRequest extends Schema.TaggedError<MalformedRequest>()("MalformedRequest", {
  message: Schema.String,
}) {}

/** A command other than `Bootstrap` before the cluster was bootstrapped. */
export class NotBootstrapped extends Schema.TaggedError<NotBootstrapped>()("NotBootstrapped", {}) {}

/** `Bootstrap` on a cluster that already exists. */
export class AlreadyBootstrapped extends Schema.TaggedError<AlreadyBootstrapped>()("AlreadyBootstrapped", {
  cluster: Schema.String,
}) {}

/** An argument out of range or inconsistent (a name, a count, a setting, a membership). */
export class InvalidArgument extends Schema.TaggedError<InvalidArgument>()("InvalidArgument", {
  message: Schema.String,
}) {}

/** No node with this id. */
export class UnknownNode extends Schema.TaggedError<UnknownNode>()("UnknownNode", {
  node: Schema.Number,
}) {}

/** The node was removed: its id and token are retired for good. */
export class NodeRemoved extends Schema.TaggedError<NodeRemoved>()("NodeRemoved", {
  node: NodeIdSchema,
}) {}

/** The identity token does not belong to the node it claims to be. */
export class WrongToken extends Schema.TaggedError<WrongToken>()("WrongToken", {
  node: NodeIdSchema,
}) {}

/** Every node id (1 .. 65535) has been allocated. */
export class NodeIdsExhausted extends Schema.TaggedError<NodeIdsExhausted>()("NodeIdsExhausted", {}) {}

/** Every group id has been allocated. */
export class GroupIdsExhausted extends Schema.TaggedError<GroupIdsExhausted>()("GroupIdsExhausted", {}) {}

/** A node state change that the life cycle does not allow. */
export class IllegalTransition extends Schema.TaggedError<IllegalTransition>()("IllegalTransition", {
  node: NodeIdSchema,
  from: Schema.String,
  to: Schema.String,
}) {}

/** Removing a node that still hosts replicas: drain it (or let its replicas be replaced) first. */
export class NodeNotEmpty extends Schema.TaggedError<NodeNotEmpty>()("NodeNotEmpty", {
  node: NodeIdSchema,
  replicas: Count,
}) {}

/** A new replica on a node that is not `up`. */
export class NodeUnavailable extends Schema.TaggedError<NodeUnavailable>()("NodeUnavailable", {
  node: NodeIdSchema,
  state: Schema.String,
}) {}

/** Fewer `up` nodes than a placement needs. */
export class NotEnoughNodes extends Schema.TaggedError<NotEnoughNodes>()("NotEnoughNodes", {
  needed: Count,
  available: Count,
}) {}

/** No group with this id. */
export class UnknownGroup extends Schema.TaggedError<UnknownGroup>()("UnknownGroup", {
  group: Schema.Number,
}) {}

/** The group has no such replica (or not in the role the command needs). */
export class UnknownReplica extends Schema.TaggedError<UnknownReplica>()("UnknownReplica", {
  group: GroupIdSchema,
  replica: Schema.Number,
}) {}

/** The node already hosts a replica of the group. */
export class ReplicaExists extends Schema.TaggedError<ReplicaExists>()("ReplicaExists", {
  group: GroupIdSchema,
  node: NodeIdSchema,
  replica: ReplicaIdSchema,
}) {}

/** A membership record not newer than the one the metadata group holds. */
export class StaleMembership extends Schema.TaggedError<StaleMembership>()("StaleMembership", {
  group: GroupIdSchema,
  confVersion: Count,
  current: Count,
}) {}

/** A leader hint from an older term than the recorded one. */
export class StaleLeaderHint extends Schema.TaggedError<StaleLeaderHint>()("StaleLeaderHint", {
  group: GroupIdSchema,
  term: Count,
  current: Count,
}) {}

/** A keyspace with this name exists already. */
export class KeyspaceExists extends Schema.TaggedError<KeyspaceExists>()("KeyspaceExists", {
  name: Schema.String,
}) {}

/** No node that may take replicas hosts this state machine kind. */
export class UnknownKind extends Schema.TaggedError<UnknownKind>()("UnknownKind", {
  kind: Schema.String,
  /** The kinds the up nodes host. */
  hosted: Schema.Array(Schema.String),
}) {}

/** The replicas asked for do not fit under the cluster's limit of replicas per node. */
export class NotEnoughCapacity extends Schema.TaggedError<NotEnoughCapacity>()("NotEnoughCapacity", {
  /** Replicas the request adds. */
  needed: Count,
  /** Replicas the nodes hosting the kind can still take. */
  available: Count,
  maxReplicasPerNode: Count,
}) {}

/** No keyspace with this name. */
export class UnknownKeyspace extends Schema.TaggedError<UnknownKeyspace>()("UnknownKeyspace", {
  name: Schema.String,
}) {}

/** Another operator is in flight on the group: at most one runs per group. */
export class OperatorConflict extends Schema.TaggedError<OperatorConflict>()("OperatorConflict", {
  group: GroupIdSchema,
  operator: Count,
}) {}

/** No operator in flight with this id (never started, or already finished). */
export class UnknownOperator extends Schema.TaggedError<UnknownOperator>()("UnknownOperator", {
  id: Count,
}) {}

/** The command does not fit the operator's kind or status. */
export class OperatorMismatch extends Schema.TaggedError<OperatorMismatch>()("OperatorMismatch", {
  id: Count,
  message: Schema.String,
}) {}

/** Every refusal of the metadata state machine. */
export const MetaError = Schema.Union(
  MalformedRequest,
  NotBootstrapped,
  AlreadyBootstrapped,
  InvalidArgument,
  UnknownNode,
  NodeRemoved,
  WrongToken,
  NodeIdsExhausted,
  GroupIdsExhausted,
  IllegalTransition,
  NodeNotEmpty,
  NodeUnavailable,
  NotEnoughNodes,
  UnknownGroup,
  UnknownReplica,
  ReplicaExists,
  StaleMembership,
  StaleLeaderHint,
  KeyspaceExists,
  UnknownKeyspace,
  UnknownKind,
  NotEnoughCapacity,
  OperatorConflict,
  UnknownOperator,
  OperatorMismatch,
)
/** See `MetaError`. */
export type MetaError = typeof MetaError.Type
