/**
 * Read-only questions to the metadata group, as served on `flotilla.<cluster>.meta`: the shard
 * map (versioned, so clients cache it and ask "anything newer than v?"), the node list, the
 * operator list, the shard of a key, and the settings. Answers are computed from the state
 * alone and never change it.
 */
import { type Either, Schema } from "effect"
import { nodeOfReplica } from "../raft/Ids.js"
import {
  type ClusterState,
  findGroup,
  findKeyspace,
  GroupRecord,
  Labels,
  NodeState,
  Settings,
} from "./ClusterState.js"
import { Count, Millis, NodeIdSchema } from "./IdSchemas.js"
import { decodeJson, decodeJsonOrThrow, encodeJson } from "./JsonCodec.js"
import { MalformedRequest, UnknownKeyspace } from "./MetaErrors.js"
import { OperatorRecord } from "./Operator.js"
import { paginateShardMap, ShardMap } from "./PagedShardMap.js"
import { shardOfKey, slotOf } from "./Slots.js"

/** The shard map of one keyspace ("" for all, with the metadata group) unless `knownVersion` is current. */
export const GetShardMap = Schema.TaggedStruct("GetShardMap", {
  keyspace: Schema.String,
  knownVersion: Count,
  /** Which page of a map too large for one answer (PagedShardMap.ts); absent: 0. */
  page: Schema.optional(Count),
})
/** Every node, without identity tokens. */
export const GetNodes = Schema.TaggedStruct("GetNodes", {})
/** Operators in flight, and the recent history when asked. */
export const GetOperators = Schema.TaggedStruct("GetOperators", { history: Schema.Boolean })
/** The shard (and its group) serving a key of a keyspace. */
export const LookupKey = Schema.TaggedStruct("LookupKey", { keyspace: Schema.String, key: Schema.String })
/** The cluster settings. */
export const GetSettings = Schema.TaggedStruct("GetSettings", {})

/** Every query. */
export const MetaQuery = Schema.Union(GetShardMap, GetNodes, GetOperators, LookupKey, GetSettings)
/** See `MetaQuery`. */
export type MetaQuery = typeof MetaQuery.Type

/** The shard map answer, defined with its pages (ShardMapPages.ts). */
export { ShardMap }

/** The caller's shard map is current. */
export const NotModified = Schema.TaggedStruct("NotModified", { version: Count })

/** A node as listed to clients: the record without its identity token. */
export const NodeView = Schema.Struct({
  id: NodeIdSchema,
  name: Schema.String,
  labels: Labels,
  state: NodeState,
  registeredAt: Millis,
  lastHeartbeat: Millis,
  stateSince: Millis,
  /** Replicas (any role, any group) hosted. */
  replicas: Count,
})
/** See `NodeView`. */
export interface NodeView extends Schema.Schema.Type<typeof NodeView> {}

/** The node list. */
export const NodeList = Schema.TaggedStruct("NodeList", { nodes: Schema.Array(NodeView) })

/** The operator list. */
export const OperatorList = Schema.TaggedStruct("OperatorList", {
  inFlight: Schema.Array(OperatorRecord),
  history: Schema.Array(OperatorRecord),
})

/** Where a key lives: its slot, and the group serving it at shard map `version`. */
export const KeyLocation = Schema.TaggedStruct("KeyLocation", {
  version: Count,
  keyspace: Schema.String,
  slot: Count,
  group: GroupRecord,
})

/** The settings. */
export const SettingsView = Schema.TaggedStruct("SettingsView", { settings: Settings })

/** Every answer. */
export const MetaQueryResponse = Schema.Union(
  ShardMap,
  NotModified,
  NodeList,
  OperatorList,
  KeyLocation,
  SettingsView,
  MalformedRequest,
  UnknownKeyspace,
)
/** See `MetaQueryResponse`. */
export type MetaQueryResponse = typeof MetaQueryResponse.Type

/** The pages of the shard map of `keyspace` ("": every keyspace and the metadata group). */
export const shardMapPages = (
  state: ClusterState,
  keyspace: string,
): ReadonlyArray<ShardMap> | UnknownKeyspace => {
  if (keyspace === "") return paginateShardMap(state.shardMapVersion, state.keyspaces, state.groups)
  const ks = findKeyspace(state, keyspace)
  if (ks === undefined) return new UnknownKeyspace({ name: keyspace })
  const groups = ks.shards.flatMap((s) => findGroup(state, s.group) ?? [])
  return paginateShardMap(state.shardMapVersion, [ks], groups)
}

/** Answers a query from a state. */
export const answerQuery = (state: ClusterState, query: MetaQuery): MetaQueryResponse => {
  switch (query._tag) {
    case "GetShardMap": {
      const page = query.page ?? 0
      if (page === 0 && query.knownVersion !== 0 && query.knownVersion === state.shardMapVersion) {
        return NotModified.make({ version: state.shardMapVersion })
      }
      const pages = shardMapPages(state, query.keyspace)
      if (!Array.isArray(pages)) return pages as UnknownKeyspace
      // A page past the end (the map shrank between a reader's pages): an empty page of the
      // current version, which tells the reader to start again.
      return (
        pages[page] ??
        ShardMap.make({
          version: state.shardMapVersion,
          keyspaces: [],
          groups: [],
          page,
          pages: pages.length,
        })
      )
    }
    case "GetNodes": {
      const hosted = new Map<number, number>()
      for (const g of state.groups) {
        for (const r of g.replicas)
          hosted.set(nodeOfReplica(r.id), (hosted.get(nodeOfReplica(r.id)) ?? 0) + 1)
      }
      const nodes = state.nodes.map(
        (n): NodeView => ({
          id: n.id,
          name: n.name,
          labels: n.labels,
          state: n.state,
          registeredAt: n.registeredAt,
          lastHeartbeat: n.lastHeartbeat,
          stateSince: n.stateSince,
          replicas: hosted.get(n.id) ?? 0,
        }),
      )
      return NodeList.make({ nodes })
    }
    case "GetOperators":
      return OperatorList.make({ inFlight: state.operators, history: query.history ? state.history : [] })
    case "LookupKey": {
      const keyspace = findKeyspace(state, query.keyspace)
      if (keyspace === undefined) return new UnknownKeyspace({ name: query.keyspace })
      const slot = slotOf(query.key)
      const shard = shardOfKey(keyspace, query.key)
      const group = shard === undefined ? undefined : findGroup(state, shard.group)
      if (group === undefined) return new UnknownKeyspace({ name: query.keyspace })
      return KeyLocation.make({ version: state.shardMapVersion, keyspace: keyspace.name, slot, group })
    }
    case "GetSettings":
      return SettingsView.make({ settings: state.settings })
  }
}

/** A query as bytes. */
export const encodeQuery: (query: MetaQuery) => Uint8Array = encodeJson(MetaQuery)

/** Bytes as a query, or the refusal. */
export const decodeQuery: (bytes: Uint8Array) => Either.Either<MetaQuery, MalformedRequest> =
  decodeJson(MetaQuery)

/** An answer as bytes. */
export const encodeQueryResponse: (answer: MetaQueryResponse) => Uint8Array = encodeJson(MetaQueryResponse)

/** Answer bytes back as an answer; throws on bytes no state machine produced. */
export const decodeQueryResponse: (bytes: Uint8Array) => MetaQueryResponse =
  decodeJsonOrThrow(MetaQueryResponse)
