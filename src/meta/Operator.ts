/**
 * Operators as data. The placement planner emits `OperatorSpec`s; the driver on the metadata
 * leader records each one with `StartOperator` (which gives it an id and a deadline), carries
 * it out step by step against the live group, and ends it with `FinishOperator`. The record
 * lives in the metadata group, so a new metadata leader picks up every operator in flight
 * where the old one left it.
 *
 * The kinds, and what the driver does for each (the pure step function in
 * src/placement/OperatorStep.ts decides the next action from the group's observed state):
 * - `AddReplica`: allocate a replica on `node` → add it as a learner → wait until it has
 *   caught up (the leader sends a snapshot if needed) → promote it to voter.
 * - `MoveReplica`: as `AddReplica`, then promote the new replica and demote `from` in one joint
 *   configuration change (left automatically) → remove `from`. Used to balance, to replace the
 *   replicas of a dead node, to drain and to fix zone conflicts.
 * - `RemoveReplica`: transfer leadership away if `replica` leads → remove it.
 * - `TransferLeader`: move leadership of the group from `from` to `to`.
 *
 * A running operator past its deadline is rolled back unless it has passed its point of no
 * return (the new replica is a voter): then it completes. See docs/placement.md.
 */
import { Schema } from "effect"
import type { NodeId } from "../raft/Ids.js"
import { Count, GroupIdSchema, Millis, NodeIdSchema, ReplicaIdSchema, ReplicaRefSchema } from "./IdSchemas.js"

/** Why the planner emitted an operator (for the operator list and for tests). */
export const OperatorReason = Schema.Literal(
  /** The metadata group's membership differs from its target. */
  "meta-target",
  /** The replica's node has been silent longer than the down timeout. */
  "replace-failed",
  /** The group has fewer voters than its replication target. */
  "under-replicated",
  /** The group has more voters than its replication target. */
  "over-replicated",
  /** A learner that no operator is adding: left over from an interrupted change. */
  "orphan-learner",
  /** Two replicas of the group share a zone although enough zones exist. */
  "zone-conflict",
  /** The replica's node is draining. */
  "drain",
  /** Replica counts differ by two or more between nodes. */
  "balance-replicas",
  /** Leader counts differ by two or more between nodes. */
  "balance-leaders",
)
/** See `OperatorReason`. */
export type OperatorReason = typeof OperatorReason.Type

/** Add a new replica of `group` on `node`. */
export const AddReplica = Schema.TaggedStruct("AddReplica", {
  group: GroupIdSchema,
  node: NodeIdSchema,
  reason: OperatorReason,
})
/** See `AddReplica`. */
export interface AddReplica extends Schema.Schema.Type<typeof AddReplica> {}

/** Remove `replica` from `group`. */
export const RemoveReplica = Schema.TaggedStruct("RemoveReplica", {
  group: GroupIdSchema,
  replica: ReplicaIdSchema,
  reason: OperatorReason,
})
/** See `RemoveReplica`. */
export interface RemoveReplica extends Schema.Schema.Type<typeof RemoveReplica> {}

/** Replace replica `from` of `group` by a new replica on `node`. */
export const MoveReplica = Schema.TaggedStruct("MoveReplica", {
  group: GroupIdSchema,
  from: ReplicaIdSchema,
  node: NodeIdSchema,
  reason: OperatorReason,
})
/** See `MoveReplica`. */
export interface MoveReplica extends Schema.Schema.Type<typeof MoveReplica> {}

/** Move leadership of `group` from replica `from` to voter `to`. */
export const TransferLeader = Schema.TaggedStruct("TransferLeader", {
  group: GroupIdSchema,
  from: ReplicaIdSchema,
  to: ReplicaIdSchema,
  reason: OperatorReason,
})
/** See `TransferLeader`. */
export interface TransferLeader extends Schema.Schema.Type<typeof TransferLeader> {}

/** What an operator does: one of the four kinds. */
export const OperatorSpec = Schema.Union(AddReplica, RemoveReplica, MoveReplica, TransferLeader)
/** See `OperatorSpec`. */
export type OperatorSpec = typeof OperatorSpec.Type

/**
 * Where an operator is.
 * - `running`: going forward.
 * - `rolling-back`: timed out or aborted; undoing what it did (or completing, past the point of no return).
 * - `succeeded`, `rolled-back`: finished (only in the history).
 */
export const OperatorStatus = Schema.Literal("running", "rolling-back", "succeeded", "rolled-back")
/** See `OperatorStatus`. */
export type OperatorStatus = typeof OperatorStatus.Type

/** The name of the last step the driver recorded (free text for humans; "" at start). */
export const OperatorStepName = Schema.String

/** An operator as recorded in the metadata group. */
export const OperatorRecord = Schema.Struct({
  id: Count,
  spec: OperatorSpec,
  status: OperatorStatus,
  /** The last step the driver recorded. */
  step: OperatorStepName,
  /** The replica allocated by `AddLearner` for an add or a move (0 until then). */
  newReplica: ReplicaRefSchema,
  startedAt: Millis,
  updatedAt: Millis,
  /** Proposer time after which a running operator is rolled back. */
  deadline: Millis,
  /** Why it is rolling back or rolled back ("" otherwise). */
  cause: Schema.String,
})
/** See `OperatorRecord`. */
export interface OperatorRecord extends Schema.Schema.Type<typeof OperatorRecord> {}

/** The node that receives the new replica of an add or a move. */
export const targetNode = (spec: OperatorSpec): NodeId | undefined =>
  spec._tag === "AddReplica" || spec._tag === "MoveReplica" ? spec.node : undefined

/** One line describing an operator, for logs and test failures. */
export const describeOperator = (spec: OperatorSpec): string => {
  switch (spec._tag) {
    case "AddReplica":
      return `add g${spec.group} on n${spec.node} (${spec.reason})`
    case "RemoveReplica":
      return `remove g${spec.group} r${spec.replica} (${spec.reason})`
    case "MoveReplica":
      return `move g${spec.group} r${spec.from} → n${spec.node} (${spec.reason})`
    case "TransferLeader":
      return `transfer g${spec.group} r${spec.from} → r${spec.to} (${spec.reason})`
  }
}
