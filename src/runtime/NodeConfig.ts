/**
 * How a node is configured: `NodeConfig` (identity, cluster, the kinds it hosts) and its
 * numeric `NodeSettings`, validated and defaulted by Schema because they come from flags and
 * files.
 */

import { Schema } from "effect"
import type { GroupId, NodeId } from "../raft/Ids.js"
import type { ClusterSecret } from "../transport/ClusterSecret.js"
import type { EngineOptions } from "./Engine.js"
import type { SessionOpenLimits } from "./SessionOpens.js"
import type { ShardKind } from "./ShardKind.js"

/** Numeric settings of a node, validated and defaulted by Schema (they come from flags and files). */
export const NodeSettings = Schema.Struct({
  /** Milliseconds per Raft tick. */
  tickMs: Schema.optionalWith(Schema.Int.pipe(Schema.between(5, 10_000)), { default: () => 100 }),
  /** Ticks before a follower without a leader campaigns (randomized to [n, 2n)). */
  electionTicks: Schema.optionalWith(Schema.Int.pipe(Schema.between(2, 1000)), { default: () => 10 }),
  /** Ticks between a leader's heartbeats. */
  heartbeatTicks: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 500)), { default: () => 1 }),
  /** Requests waiting per replica before `Overloaded`. */
  mailboxCapacity: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1_000_000)), {
    default: () => 4096,
  }),
  /** Entries applied between snapshots. */
  snapshotEntries: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100_000_000)), {
    default: () => 10_000,
  }),
  /** Entries kept behind a snapshot. */
  keepEntries: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 100_000_000)), { default: () => 1_000 }),
  /** How long snapshot data stays in memory after use. */
  snapshotCacheMs: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 3_600_000)), {
    default: () => 30_000,
  }),
  /** Idle ticks before a leader quiesces its group (0: never). */
  quiesceAfterTicks: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 100_000)), { default: () => 20 }),
  /** Liveness ping interval (docs/decisions/0079). */
  livenessIntervalMs: Schema.optionalWith(Schema.Int.pipe(Schema.between(10, 60_000)), {
    default: () => 500,
  }),
  /**
   * Silence after which a node counts as down: the groups it led fail over at once
   * (docs/decisions/0079).
   */
  livenessTimeoutMs: Schema.optionalWith(Schema.Int.pipe(Schema.between(20, 600_000)), {
    default: () => 1500,
  }),
  /**
   * After the node's loop stood still long enough for its peers to find it silent, how long
   * client requests wait while they may be electing new leaders for its groups (0: not at all;
   * docs/decisions/0130).
   */
  stallHoldMs: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 60_000)), { default: () => 200 }),
})
export type NodeSettings = Schema.Schema.Type<typeof NodeSettings>

/** What `NodeLive` needs to run a node. */
export interface NodeConfig {
  readonly nodeId: NodeId
  readonly cluster: string
  readonly subjectPrefix?: string
  /**
   * The state machine kinds this node can host, by name. A group's kind is the one recorded
   * in the `GroupCatalog` when it was created (`createGroup`/`expectReplica` with `kind`);
   * otherwise `kindOf` decides, otherwise the first kind listed here.
   */
  readonly kinds?: ReadonlyArray<ShardKind>
  /** The kind of a group the catalog does not name. */
  readonly kindOf?: (groupId: GroupId) => ShardKind
  /**
   * Whether `groupId` owns hash slot `slot` (from the shard map); `undefined` when unknown
   * (the request is then served). Requests whose kind reports a slot are checked.
   */
  readonly ownsSlot?: (groupId: GroupId, slot: number) => boolean | undefined
  readonly settings?: Schema.Schema.Encoded<typeof NodeSettings>
  /** Raft settings beyond ticks (pre-vote, check-quorum, message sizes, ...). */
  readonly raft?: EngineOptions["raft"]
  /** Session opens admitted per client and per group (default `DEFAULT_SESSION_OPEN_LIMITS`). */
  readonly sessionOpenLimits?: SessionOpenLimits
  /**
   * The cluster secret: liveness pings are signed and checked with it (Liveness.ts). The
   * transport takes the same secret in its own options to seal frames.
   */
  readonly clusterSecret?: ClusterSecret
}
