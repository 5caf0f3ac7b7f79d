/**
 * The wire protocol of `<prefix>.<cluster>.meta`, the metadata group leader's endpoint: what
 * nodes, clients and operators may send, and every answer they may get back. JSON objects
 * tagged by `_tag` (docs/placement.md, "The meta protocol", has the exact shapes).
 *
 * Requests are the public subset of the metadata group's queries and commands. A command
 * request carries no time: THE LEADER STAMPS ITS CLOCK into the command (`at`) before
 * proposing it, so every replica applies the same bytes. The commands the placement driver
 * uses to carry out operators (allocating replicas, recording memberships, operator records)
 * are not part of the protocol: the driver runs on the leader and proposes them locally.
 *
 * A `Heartbeat` is not a log command: the leader checks the node's token against its state,
 * keeps the enclosed load report in memory for the driver (docs/decisions/0035) and answers
 * with the shard map version, so the node refetches the map only when it changed.
 */
import { Either, Schema } from "effect"
import { isNodeId } from "../raft/Ids.js"
import { RuntimeErrorSchema } from "../runtime/RuntimeErrors.js"
import { Labels, NodeState } from "./ClusterState.js"
import { Count, NodeIdSchema } from "./IdSchemas.js"
import { decodeJson, decodeJsonValue, encodeJson, parseJson } from "./JsonCodec.js"
import { type MetaCommand, MetaResponse, SettingsPatch } from "./MetaCommand.js"
import type { MalformedRequest } from "./MetaErrors.js"
import { type MetaQuery, MetaQueryResponse } from "./MetaQuery.js"
import { NodeLoad, parseNodeLoad, parseReportPart, ReportPart } from "./NodeReport.js"

/** Queries are linearizable (ReadIndex on the leader) unless `stale: true`. */
const stale = { stale: Schema.optional(Schema.Boolean) }

/** The shard map of one keyspace ("": every keyspace and the metadata group), unless `knownVersion` is current. */
export const GetShardMapRequest = Schema.TaggedStruct("GetShardMap", {
  keyspace: Schema.optionalWith(Schema.String, { default: () => "" }),
  knownVersion: Schema.optionalWith(Count, { default: () => 0 }),
  /** A page of a map too large for one answer (PagedShardMap.ts); absent: 0. */
  page: Schema.optional(Count),
  ...stale,
})
/** The node list (without identity tokens). */
export const GetNodesRequest = Schema.TaggedStruct("GetNodes", { ...stale })
/** Operators in flight, and the recent history when `history`. */
export const GetOperatorsRequest = Schema.TaggedStruct("GetOperators", {
  history: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  ...stale,
})
/** The slot and group of a key. */
export const LookupKeyRequest = Schema.TaggedStruct("LookupKey", {
  keyspace: Schema.String,
  key: Schema.String,
  ...stale,
})
/** The cluster settings. */
export const GetSettingsRequest = Schema.TaggedStruct("GetSettings", { ...stale })

/** A node asks for its id; the same token always gets the same id back. */
export const RegisterNodeRequest = Schema.TaggedStruct("RegisterNode", {
  token: Schema.String,
  name: Schema.optionalWith(Schema.String, { default: () => "" }),
  labels: Schema.optionalWith(Labels, { default: () => ({}) }),
  /** The state machine kinds the node hosts besides the metadata group's (absent: the KV store). */
  kinds: Schema.optional(Schema.Array(Schema.String)),
})
/**
 * A node's heartbeat with its load report (`load.node` must be `node`), or with one `part` of
 * a report too large for one message (NodeReport.ts, `splitLoad`). `proof` stands for the
 * node's token, which never travels again after `RegisterNode` (HeartbeatProof.ts).
 */
export const HeartbeatRequest = Schema.TaggedStruct("Heartbeat", {
  node: NodeIdSchema,
  proof: Schema.String,
  load: NodeLoad,
  part: Schema.optional(ReportPart),
})
/** See `HeartbeatRequest`. */
export interface HeartbeatRequest extends Schema.Schema.Type<typeof HeartbeatRequest> {}
/** Creates a keyspace (`replicationFactor` 0: the cluster default; `kind` absent: "kv"). */
export const CreateKeyspaceRequest = Schema.TaggedStruct("CreateKeyspace", {
  name: Schema.String,
  shards: Count,
  replicationFactor: Schema.optionalWith(Count, { default: () => 0 }),
  kind: Schema.optional(Schema.String),
})
/** Deletes a keyspace, its groups and their data, for good. */
export const DeleteKeyspaceRequest = Schema.TaggedStruct("DeleteKeyspace", { name: Schema.String })
/** Moves a node through its life cycle: `draining` drains it, `up` cancels, `removed` retires it once empty. */
export const SetNodeStateRequest = Schema.TaggedStruct("SetNodeState", {
  node: NodeIdSchema,
  state: NodeState,
})
/** Changes some settings. */
export const UpdateSettingsRequest = Schema.TaggedStruct("UpdateSettings", { settings: SettingsPatch })
/** Changes a keyspace's replication factor. */
export const SetReplicationFactorRequest = Schema.TaggedStruct("SetReplicationFactor", {
  keyspace: Schema.String,
  replicationFactor: Count,
})

/** Every request the meta subject accepts. */
export const MetaRequest = Schema.Union(
  GetShardMapRequest,
  GetNodesRequest,
  GetOperatorsRequest,
  LookupKeyRequest,
  GetSettingsRequest,
  RegisterNodeRequest,
  HeartbeatRequest,
  CreateKeyspaceRequest,
  DeleteKeyspaceRequest,
  SetNodeStateRequest,
  UpdateSettingsRequest,
  SetReplicationFactorRequest,
)
/** See `MetaRequest`. */
export type MetaRequest = typeof MetaRequest.Type
/** A request as its sender writes it (defaults may be left out). */
export type MetaRequestInput = typeof MetaRequest.Encoded

/** The answer to a heartbeat: the shard map version the leader holds now. */
export const HeartbeatAck = Schema.TaggedStruct("HeartbeatAck", {
  node: NodeIdSchema,
  shardMapVersion: Count,
})
/** See `HeartbeatAck`. */
export interface HeartbeatAck extends Schema.Schema.Type<typeof HeartbeatAck> {}

/**
 * Every answer on the meta subject: a command's response (success or `MetaError`), a query's
 * answer, a heartbeat acknowledgement, or a runtime error from the node (`NotLeader`,
 * `Overloaded`, `ProposalFailed`, `NodeStopping`, ...: nothing was done, retry later).
 */
export const MetaReply = Schema.Union(MetaResponse, MetaQueryResponse, HeartbeatAck, RuntimeErrorSchema)
/** See `MetaReply`. */
export type MetaReply = typeof MetaReply.Type

/** What a request asks of the metadata group. */
export type Classified =
  | { readonly _tag: "Query"; readonly query: MetaQuery; readonly stale: boolean }
  | { readonly _tag: "Command"; readonly command: MetaCommand }
  | { readonly _tag: "Heartbeat"; readonly request: HeartbeatRequest }

/** Turns a request into the query or command it asks for, stamping commands with `nowMs`. */
export const classify = (request: MetaRequest, nowMs: number): Classified => {
  const at = Math.max(0, Math.floor(nowMs))
  const query = (q: MetaQuery, s: boolean | undefined): Classified => ({
    _tag: "Query",
    query: q,
    stale: s === true,
  })
  const command = (c: MetaCommand): Classified => ({ _tag: "Command", command: c })
  switch (request._tag) {
    case "GetShardMap":
      return query(
        {
          _tag: "GetShardMap",
          keyspace: request.keyspace,
          knownVersion: request.knownVersion,
          ...(request.page !== undefined ? { page: request.page } : {}),
        },
        request.stale,
      )
    case "GetNodes":
      return query({ _tag: "GetNodes" }, request.stale)
    case "GetOperators":
      return query({ _tag: "GetOperators", history: request.history }, request.stale)
    case "LookupKey":
      return query({ _tag: "LookupKey", keyspace: request.keyspace, key: request.key }, request.stale)
    case "GetSettings":
      return query({ _tag: "GetSettings" }, request.stale)
    case "RegisterNode":
      return command({
        _tag: "RegisterNode",
        token: request.token,
        name: request.name,
        labels: request.labels,
        ...(request.kinds === undefined ? {} : { kinds: request.kinds }),
        at,
      })
    case "Heartbeat":
      return { _tag: "Heartbeat", request }
    case "CreateKeyspace":
      return command({
        _tag: "CreateKeyspace",
        name: request.name,
        shards: request.shards,
        replicationFactor: request.replicationFactor,
        ...(request.kind === undefined ? {} : { kind: request.kind }),
        at,
      })
    case "DeleteKeyspace":
      return command({ _tag: "DeleteKeyspace", name: request.name, at })
    case "SetNodeState":
      return command({ _tag: "SetNodeState", node: request.node, state: request.state, at })
    case "UpdateSettings":
      return command({ _tag: "UpdateSettings", settings: request.settings })
    case "SetReplicationFactor":
      return command({
        _tag: "SetReplicationFactor",
        keyspace: request.keyspace,
        replicationFactor: request.replicationFactor,
      })
  }
}

const encodeThroughSchema = encodeJson(MetaRequest)
const decodeThroughSchema = decodeJsonValue(MetaRequest)
const utf8 = new TextEncoder()

/**
 * A request as bytes (what nodes and tools send). Heartbeats, sent every second with every
 * replica of a node, skip the Schema: their type and their JSON coincide (numbers, strings,
 * booleans; the Schemas only check them).
 */
export const encodeRequest = (request: MetaRequest): Uint8Array =>
  request._tag === "Heartbeat" ? utf8.encode(JSON.stringify(request)) : encodeThroughSchema(request)

/** A heartbeat exactly as the Schema would decode it, without its cost; otherwise undefined. */
const fastHeartbeat = (v: Record<string, unknown>): HeartbeatRequest | undefined => {
  if (!isNodeId(v.node) || typeof v.proof !== "string") return undefined
  const load = parseNodeLoad(v.load)
  if (load === undefined) return undefined
  if (!("part" in v)) return { _tag: "Heartbeat", node: v.node, proof: v.proof, load }
  const part = parseReportPart(v.part)
  return part === undefined ? undefined : { _tag: "Heartbeat", node: v.node, proof: v.proof, load, part }
}

/** Bytes as a request, or the `MalformedRequest` to answer. */
export const decodeRequest = (bytes: Uint8Array): Either.Either<MetaRequest, MalformedRequest> =>
  Either.flatMap(parseJson(bytes), (raw) => {
    if (typeof raw === "object" && raw !== null && (raw as { _tag?: unknown })._tag === "Heartbeat") {
      const fast = fastHeartbeat(raw as Record<string, unknown>)
      if (fast !== undefined) return Either.right(fast)
    }
    return decodeThroughSchema(raw)
  })

/** A subject's permission class (src/transport/Subjects.ts's `SubjectClass`). */
export type MetaSubjectClass = "internal" | "client" | "operator"

/**
 * The subject class a request travels on (src/transport/Subjects.ts): node registration and heartbeats are
 * internal, mutations of the cluster are the operators', everything read-only the clients'.
 */
export const metaRequestClass = (request: { readonly _tag: MetaRequest["_tag"] }): MetaSubjectClass => {
  switch (request._tag) {
    case "RegisterNode":
    case "Heartbeat":
      return "internal"
    case "CreateKeyspace":
    case "DeleteKeyspace":
    case "SetNodeState":
    case "UpdateSettings":
    case "SetReplicationFactor":
      return "operator"
    default:
      return "client"
  }
}

/**
 * Why `request` may not arrive on a meta subject of class `arrivedOn`, or undefined when it
 * may: read-only queries go anywhere; internal and operator requests only on their own class.
 */
export const refusedOn = (
  arrivedOn: MetaSubjectClass,
  request: { readonly _tag: MetaRequest["_tag"] },
): string | undefined => {
  const needed = metaRequestClass(request)
  if (needed === "client" || needed === arrivedOn) return undefined
  return `${request._tag} is ${needed === "operator" ? "an operator" : "a node-internal"} request: it is only taken on the ${needed} meta subject`
}

/** An answer as bytes. */
export const encodeReply: (reply: MetaReply) => Uint8Array = encodeJson(MetaReply)

/** Answer bytes as an answer, or why they are not one. */
export const decodeReply: (bytes: Uint8Array) => Either.Either<MetaReply, MalformedRequest> =
  decodeJson(MetaReply)
