/**
 * Schema forms of the ids in src/raft/Ids.ts and of the plain numbers the metadata group
 * records. Decoding checks the same ranges as the id constructors, so a malformed id in a
 * command or snapshot is a decode failure, never a thrown `RangeError` inside `apply`.
 */
import { Schema } from "effect"
import { type GroupId, isGroupId, isNodeId, type NodeId } from "../raft/Ids.js"
import { isReplicaId, type ReplicaId } from "../raft/Types.js"

/** A `NodeId`: an integer in 1 .. 65535. */
export const NodeIdSchema: Schema.Schema<NodeId, number> = Schema.Number.pipe(
  Schema.filter((n: number): n is NodeId => isNodeId(n), { identifier: "NodeId" }),
)

/** A `GroupId`: an integer in 0 .. 2^32 - 1. */
export const GroupIdSchema: Schema.Schema<GroupId, number> = Schema.Number.pipe(
  Schema.filter((n: number): n is GroupId => isGroupId(n), { identifier: "GroupId" }),
)

/** A `ReplicaId`: a positive safe integer (`generation * 65536 + node`). */
export const ReplicaIdSchema: Schema.Schema<ReplicaId, number> = Schema.Number.pipe(
  Schema.filter((n: number): n is ReplicaId => isReplicaId(n), { identifier: "ReplicaId" }),
)

/** A replica id or 0 ("none"), as in leader hints. */
export const ReplicaRefSchema: Schema.Schema<ReplicaId, number> = Schema.Number.pipe(
  Schema.filter((n: number): n is ReplicaId => n === 0 || isReplicaId(n), { identifier: "ReplicaRef" }),
)

/** Milliseconds since the epoch, as stamped by a proposer. `apply` never reads a clock. */
export const Millis = Schema.NonNegativeInt

/** A non-negative integer: a counter, a version, a log index. */
export const Count = Schema.NonNegativeInt
