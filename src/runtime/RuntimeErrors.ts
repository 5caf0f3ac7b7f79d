/**
 * Errors the node runtime answers callers with. They cross process boundaries (a client on
 * another node gets them over NATS), so they are `Schema.TaggedError`s.
 */
import { Schema } from "effect"

/** This replica does not lead the group; `leaderHint` is the node believed to lead it. */
export class NotLeader extends Schema.TaggedError<NotLeader>()("NotLeader", {
  groupId: Schema.Number,
  leaderHint: Schema.optional(Schema.Number),
}) {
  override get message(): string {
    return `group ${this.groupId}: not the leader${this.leaderHint === undefined ? "" : ` (try node ${this.leaderHint})`}`
  }
}

/** The replica's mailbox is full: the caller should back off and retry. */
export class Overloaded extends Schema.TaggedError<Overloaded>()("Overloaded", {
  groupId: Schema.Number,
  capacity: Schema.Number,
  /** What is full when it is not the mailbox (e.g. "session opens rate-limited"). */
  reason: Schema.optional(Schema.String),
}) {
  override get message(): string {
    return this.reason === undefined
      ? `group ${this.groupId}: mailbox full (${this.capacity} requests waiting)`
      : `group ${this.groupId}: ${this.reason} (limit ${this.capacity})`
  }
}

/** This node hosts no replica of the group. */
export class GroupNotFound extends Schema.TaggedError<GroupNotFound>()("GroupNotFound", {
  groupId: Schema.Number,
  nodeId: Schema.Number,
}) {
  override get message(): string {
    return `group ${this.groupId} has no replica on node ${this.nodeId}`
  }
}

/**
 * A proposal was not committed (leadership changed and its log slot went to another entry,
 * or the proposal was refused). It did NOT take effect: retrying is safe.
 */
export class ProposalFailed extends Schema.TaggedError<ProposalFailed>()("ProposalFailed", {
  groupId: Schema.Number,
  reason: Schema.String,
}) {
  override get message(): string {
    return `group ${this.groupId}: proposal not committed (${this.reason}); it did not take effect`
  }
}

/**
 * The proposal may or may not have taken effect, and this replica cannot tell: it proposed the
 * entry as leader, lost leadership, and then received a snapshot covering the entry's index
 * (so the entry can no longer be matched). Retrying may apply the command twice.
 */
export class OutcomeUnknown extends Schema.TaggedError<OutcomeUnknown>()("OutcomeUnknown", {
  groupId: Schema.Number,
  reason: Schema.String,
}) {
  override get message(): string {
    return `group ${this.groupId}: the proposal's outcome is unknown (${this.reason}); it may have taken effect`
  }
}

/** The group's replica on this node stopped (corrupted data, failed disk, state machine bug). */
export class GroupStopped extends Schema.TaggedError<GroupStopped>()("GroupStopped", {
  groupId: Schema.Number,
  reason: Schema.String,
}) {
  override get message(): string {
    return `group ${this.groupId} stopped on this node: ${this.reason}`
  }
}

/** The node is shutting down; the request was not started (or its outcome is unknown if noted). */
export class NodeStopping extends Schema.TaggedError<NodeStopping>()("NodeStopping", {
  nodeId: Schema.Number,
}) {
  override get message(): string {
    return `node ${this.nodeId} is shutting down`
  }
}

/** The request's key (slot) does not belong to this group: the caller's shard map is stale. */
export class WrongShard extends Schema.TaggedError<WrongShard>()("WrongShard", {
  groupId: Schema.Number,
  slot: Schema.Number,
}) {
  override get message(): string {
    return `slot ${this.slot} does not belong to group ${this.groupId}: refresh the shard map`
  }
}

/** A request the group's state machine kind could not make sense of. */
export class BadRequest extends Schema.TaggedError<BadRequest>()("BadRequest", {
  reason: Schema.String,
}) {
  override get message(): string {
    return `bad request: ${this.reason}`
  }
}

/** Everything a proposal or read can fail with. */
export type RuntimeError =
  | NotLeader
  | Overloaded
  | GroupNotFound
  | ProposalFailed
  | OutcomeUnknown
  | GroupStopped
  | NodeStopping
  | WrongShard

/** Every runtime error, as one Schema (to decode a reply's error on the client side). */
export const RuntimeErrorSchema = Schema.Union(
  NotLeader,
  Overloaded,
  GroupNotFound,
  ProposalFailed,
  OutcomeUnknown,
  GroupStopped,
  NodeStopping,
  WrongShard,
  BadRequest,
)
