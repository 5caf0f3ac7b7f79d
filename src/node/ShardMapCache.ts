/**
 * This node's copy of the shard map, as the metadata agent last fetched it. It only ever moves
 * to newer versions. The node asks it which hash slots a group owns (`ownsSlot`, wired into
 * `NodeConfig` so requests for keys a group does not own get `WrongShard`), and the agent
 * reconciles the local replicas with it.
 */
import { Context, Layer } from "effect"
import { type GroupRecord, type Keyspace, META_GROUP, META_KIND } from "../meta/ClusterState.js"
import type { ShardMap } from "../meta/MetaQuery.js"
import type { GroupId } from "../raft/Ids.js"

/** See the module comment. */
export interface ShardMapCacheService {
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
export class ShardMapCache extends Context.Tag("flotilla/node/ShardMapCache")<
  ShardMapCache,
  ShardMapCacheService
>() {}

interface Index {
  readonly ranges: Map<number, { readonly start: number; readonly end: number }>
  readonly kinds: Map<number, string>
  readonly groups: Map<number, GroupRecord>
}

const index = (map: ShardMap): Index => {
  const ranges = new Map<number, { start: number; end: number }>()
  const kinds = new Map<number, string>([[META_GROUP, META_KIND]])
  const groups = new Map<number, GroupRecord>()
  for (const k of map.keyspaces as ReadonlyArray<Keyspace>) {
    for (const s of k.shards) {
      ranges.set(s.group, { start: s.start, end: s.end })
      kinds.set(s.group, k.kind)
    }
  }
  for (const g of map.groups) groups.set(g.id, g)
  return { ranges, kinds, groups }
}

/** A cache holding nothing yet. */
export const make = (): ShardMapCacheService => {
  let map: ShardMap | undefined
  let idx: Index | undefined
  return {
    current: () => map,
    version: () => map?.version ?? 0,
    update: (next) => {
      if (map !== undefined && next.version <= map.version) return false
      map = next
      idx = index(next)
      return true
    },
    ownsSlot: (groupId, slot) => {
      const r = idx?.ranges.get(groupId)
      return r === undefined ? undefined : slot >= r.start && slot < r.end
    },
    kindOf: (groupId) => (groupId === META_GROUP ? META_KIND : idx?.kinds.get(groupId)),
    group: (groupId) => idx?.groups.get(groupId),
  }
}

/** A fresh cache for this process. */
export const layer: Layer.Layer<ShardMapCache> = Layer.sync(ShardMapCache, make)
