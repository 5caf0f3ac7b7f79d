/**
 * Identifiers shared by every layer. They live in the core's package only because it is the
 * one module every layer may import; the core itself uses `ReplicaId` alone.
 *
 * A replica id names one incarnation of a replica: `generation * 65536 + node`. The node that
 * hosts a replica is therefore derived from the id (no lookup table on the send path), and a
 * replica re-created on a node after a removal gets a new generation, hence a new id: a wiped
 * replica can never answer a vote under its old identity (docs/decisions/0003).
 */
import { ReplicaId as makeReplicaId, type ReplicaId } from "./Types.js"

/** A process in the cluster: 1 .. 65535. */
export type NodeId = number & { readonly NodeId: unique symbol }
/** A Raft group (a shard's replicated log). Group 0 is the metadata group. */
export type GroupId = number & { readonly GroupId: unique symbol }

export const MAX_NODE_ID = 0xffff
export const MAX_GROUP_ID = 0xffffffff
const NODE_SPAN = 0x10000

export const isNodeId = (n: unknown): n is NodeId =>
  typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= MAX_NODE_ID

export const isGroupId = (n: unknown): n is GroupId =>
  typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= MAX_GROUP_ID

/** Makes a `NodeId`; throws on anything out of range (a bug: parse input with `isNodeId`). */
export const NodeId = (n: number): NodeId => {
  if (!isNodeId(n)) throw new RangeError(`node id must be an integer in 1..${MAX_NODE_ID}, got ${n}`)
  return n
}

/** Makes a `GroupId`; throws on anything out of range (a bug: parse input with `isGroupId`). */
export const GroupId = (n: number): GroupId => {
  if (!isGroupId(n)) throw new RangeError(`group id must be an integer in 0..${MAX_GROUP_ID}, got ${n}`)
  return n
}

/** The id of generation `generation` (0, 1, ...) of a replica hosted on `node`. */
export const replicaIdOf = (node: NodeId, generation = 0): ReplicaId =>
  makeReplicaId(generation * NODE_SPAN + node)

/** The node hosting a replica. */
export const nodeOfReplica = (replica: ReplicaId): NodeId => (replica % NODE_SPAN) as NodeId

/** The generation of a replica id. */
export const generationOfReplica = (replica: ReplicaId): number => Math.floor(replica / NODE_SPAN)
