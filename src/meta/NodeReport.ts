/**
 * What nodes report to the metadata leader with every heartbeat: each hosted replica's role,
 * leadership, term, applied index and size, and, from a group's leader, the group's applied
 * configuration. The reports cross process boundaries (node → metadata leader, inside a
 * `Heartbeat` request on the meta subject), hence the Schemas; the metadata leader keeps
 * them in memory for the placement driver, never in the log.
 *
 * A leader MUST send its group's configuration; followers need not (their view may lag),
 * which keeps reports small on nodes that host thousands of replicas. Sizes are informative
 * (the planner balances counts).
 */
import { Schema } from "effect"
import { Count, GroupIdSchema, Millis, NodeIdSchema, ReplicaIdSchema } from "./IdSchemas.js"

/** A group's applied configuration, as in `ConfState`, with the log index it was applied at. */
export const Membership = Schema.Struct({
  /** Log index of the configuration change (0: the initial configuration). */
  confVersion: Count,
  voters: Schema.Array(ReplicaIdSchema),
  learners: Schema.Array(ReplicaIdSchema),
  votersOutgoing: Schema.Array(ReplicaIdSchema),
  learnersNext: Schema.Array(ReplicaIdSchema),
  autoLeave: Schema.Boolean,
})
/** See `Membership`. */
export interface Membership extends Schema.Schema.Type<typeof Membership> {}

/** One hosted replica, as its node sees it. */
export const ReplicaReport = Schema.Struct({
  group: GroupIdSchema,
  replica: ReplicaIdSchema,
  /** The replica's role in the configuration it has applied (a joint configuration's outgoing voters are voters). */
  role: Schema.Literal("voter", "learner"),
  /** True when this replica is its group's leader. */
  leader: Schema.Boolean,
  term: Count,
  applied: Count,
  sizeBytes: Count,
  /** The applied configuration; leaders MUST send it, followers may. */
  membership: Schema.optional(Membership),
})
/** See `ReplicaReport`. */
export interface ReplicaReport extends Schema.Schema.Type<typeof ReplicaReport> {}

/** One node's heartbeat payload. */
export const NodeLoad = Schema.Struct({
  node: NodeIdSchema,
  /** The sender's clock; informative only (the metadata leader stamps its own time). */
  at: Millis,
  replicas: Schema.Array(ReplicaReport),
})
/** See `NodeLoad`. */
export interface NodeLoad extends Schema.Schema.Type<typeof NodeLoad> {}
