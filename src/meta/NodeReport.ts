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
 *
 * A report larger than a bus message allows (NATS: 1 MiB, about 7,000 replicas) is sent in
 * parts (`splitLoad`): each part is a `NodeLoad` with the same `node` and `at` and a share of
 * the replicas; the leader records the report once it holds every part of one `at`
 * (`ReportAssembly`).
 */
import { Schema } from "effect"
import { type GroupId, isGroupId, isNodeId } from "../raft/Ids.js"
import { isReplicaId, type ReplicaId } from "../raft/Types.js"
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

/** Which part of a report a heartbeat carries: `index` in `0 .. count - 1`. */
export const ReportPart = Schema.Struct({
  index: Count,
  count: Count.pipe(Schema.between(1, 1024)),
}).pipe(Schema.filter((p) => p.index < p.count || `part index ${p.index} is not below its count ${p.count}`))
/** See `ReportPart`. */
export interface ReportPart extends Schema.Schema.Type<typeof ReportPart> {}

/**
 * Splits `load` into parts whose replicas take at most `maxBytes` of JSON each (a single
 * replica larger than that still gets a part of its own). One part when it fits whole.
 */
export const splitLoad = (load: NodeLoad, maxBytes: number): ReadonlyArray<NodeLoad> => {
  // ASCII JSON: string length = bytes. The whole report first, so small ones cost one pass.
  if (JSON.stringify(load.replicas).length <= maxBytes) return [load]
  const parts: NodeLoad[] = []
  let replicas: ReplicaReport[] = []
  // The JSON of k replicas: their sizes, k - 1 commas and two brackets.
  let bytes = 1
  for (const r of load.replicas) {
    const size = JSON.stringify(r).length + 1
    if (replicas.length > 0 && bytes + size > maxBytes) {
      parts.push({ node: load.node, at: load.at, replicas })
      replicas = []
      bytes = 1
    }
    replicas.push(r)
    bytes += size
  }
  parts.push({ node: load.node, at: load.at, replicas })
  return parts
}

/**
 * Puts split reports back together, per node: the parts of one `at` in any order; a part of
 * a newer `at` drops an unfinished older report, a part of an older one is ignored.
 */
export class ReportAssembly {
  private readonly pending = new Map<
    number,
    { at: number; parts: Array<NodeLoad | undefined>; missing: number }
  >()

  /** Forgets every unfinished report. */
  clear(): void {
    this.pending.clear()
  }

  /** Adds a part; the whole report once its last part arrived, otherwise undefined. */
  add(load: NodeLoad, part: ReportPart): NodeLoad | undefined {
    if (part.count === 1) {
      this.pending.delete(load.node)
      return load
    }
    let p = this.pending.get(load.node)
    if (p !== undefined && load.at < p.at) return undefined
    if (p === undefined || load.at > p.at || p.parts.length !== part.count) {
      p = { at: load.at, parts: new Array(part.count).fill(undefined), missing: part.count }
      this.pending.set(load.node, p)
    }
    if (p.parts[part.index] === undefined) p.missing--
    p.parts[part.index] = load
    if (p.missing > 0) return undefined
    this.pending.delete(load.node)
    return { node: load.node, at: load.at, replicas: p.parts.flatMap((x) => x!.replicas) }
  }
}

// ---------------------------------------------------------------------------------------
// Fast decoding. The metadata leader decodes every node's report every second: through the
// Schemas above, 10,000 replicas take about 30 ms. `parseNodeLoad` accepts exactly what
// `NodeLoad` decodes (and builds the same value, unknown fields dropped) in a fraction of
// that; callers fall back to the Schema when it says no, for the Schema's error message.

type Json = Record<string, unknown>

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v)
const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0

const replicaIds = (v: unknown): ReadonlyArray<ReplicaId> | undefined =>
  Array.isArray(v) && v.every(isReplicaId) ? (v as ReplicaId[]) : undefined

const parseMembership = (v: Json): Membership | undefined => {
  const voters = replicaIds(v.voters)
  const learners = replicaIds(v.learners)
  const votersOutgoing = replicaIds(v.votersOutgoing)
  const learnersNext = replicaIds(v.learnersNext)
  if (
    !isCount(v.confVersion) ||
    voters === undefined ||
    learners === undefined ||
    votersOutgoing === undefined ||
    learnersNext === undefined ||
    typeof v.autoLeave !== "boolean"
  )
    return undefined
  return {
    confVersion: v.confVersion,
    voters,
    learners,
    votersOutgoing,
    learnersNext,
    autoLeave: v.autoLeave,
  }
}

const parseReplica = (v: unknown): ReplicaReport | undefined => {
  if (!isObject(v)) return undefined
  const { group, replica, role, leader, term, applied, sizeBytes, membership } = v
  if (
    !isGroupId(group) ||
    !isReplicaId(replica) ||
    (role !== "voter" && role !== "learner") ||
    typeof leader !== "boolean" ||
    !isCount(term) ||
    !isCount(applied) ||
    !isCount(sizeBytes)
  )
    return undefined
  const base: ReplicaReport = { group: group as GroupId, replica, role, leader, term, applied, sizeBytes }
  if (!("membership" in v)) return base
  const m = isObject(membership) ? parseMembership(membership) : undefined
  return m === undefined ? undefined : { ...base, membership: m }
}

/** `v` as a `NodeLoad` when the Schema would decode it, the same value; otherwise undefined. */
export const parseNodeLoad = (v: unknown): NodeLoad | undefined => {
  if (!isObject(v) || !isNodeId(v.node) || !isCount(v.at) || !Array.isArray(v.replicas)) return undefined
  const replicas: ReplicaReport[] = new Array(v.replicas.length)
  for (let i = 0; i < v.replicas.length; i++) {
    const r = parseReplica(v.replicas[i])
    if (r === undefined) return undefined
    replicas[i] = r
  }
  return { node: v.node, at: v.at, replicas }
}

/** `v` as a `ReportPart` when the Schema would decode it; otherwise undefined. */
export const parseReportPart = (v: unknown): ReportPart | undefined =>
  isObject(v) && isCount(v.index) && isCount(v.count) && v.count >= 1 && v.count <= 1024 && v.index < v.count
    ? { index: v.index, count: v.count }
    : undefined
