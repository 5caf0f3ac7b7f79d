/**
 * This node's copy of the shard map, as the metadata agent last fetched it (the story of the
 * shard map's modules: src/meta/ShardMapIndex.ts). It only ever moves to newer versions. The
 * node asks it which hash slots a group owns (`ownsSlot`, wired into `NodeConfig` so requests
 * for keys a group does not own get `WrongShard`), and the agent reconciles the local replicas
 * with it.
 */
import { Context, Layer } from "effect"
import { type GroupRecord, META_GROUP, META_KIND } from "../meta/ClusterState.js"
import type { ShardMap } from "../meta/MetaQuery.js"
import * as ShardMapIndex from "../meta/ShardMapIndex.js"
import type { GroupId } from "../raft/Ids.js"

/** See the module comment. */
export interface NodeShardMapService {
  /** The latest map, if any was fetched. */
  readonly current: () => ShardMap | undefined
  /** Its version (0 before the first fetch). */
  readonly version: () => number
  /** Takes `map` if it is newer than the current one; true when it did. */
  readonly update: (map: ShardMap) => boolean
  /** Whether `groupId` owns `slot`: undefined when the map does not say (no map, unknown group, group 0). */
  readonly ownsSlot: (groupId: GroupId, slot: number) => boolean | undefined
  /** The state machine kind of a group (its keyspace's; the metadata kind for group 0). */
  readonly kindOf: (groupId: GroupId) => string | undefined
  /** The recorded group, if the map has it. */
  readonly group: (groupId: GroupId) => GroupRecord | undefined
}

/** See the module comment. */
export class NodeShardMap extends Context.Tag("flotilla/node/NodeShardMap")<
  NodeShardMap,
  NodeShardMapService
>() {}

/** A copy holding nothing yet. */
export const make = (): NodeShardMapService => {
  let map: ShardMap | undefined
  let index = ShardMapIndex.empty
  return {
    current: () => map,
    version: () => map?.version ?? 0,
    update: (next) => {
      if (map !== undefined && next.version <= map.version) return false
      map = next
      index = ShardMapIndex.fromShardMap(next)
      return true
    },
    ownsSlot: (groupId, slot) => ShardMapIndex.ownsSlot(index, groupId, slot),
    kindOf: (groupId) => (groupId === META_GROUP ? META_KIND : index.shards.get(groupId)?.kind),
    group: (groupId) => index.groups.get(groupId),
  }
}

/** A fresh copy for this process. */
export const layer: Layer.Layer<NodeShardMap> = Layer.sync(NodeShardMap, make)
