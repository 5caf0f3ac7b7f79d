/**
 * A client's view of the metadata group's shard map: which group serves which hash slot of
 * which keyspace, at which shard map version. Built from a `MetaQuery.ShardMap` answer; pure
 * lookups (the router caches one view and replaces it when the metadata group has a newer one).
 *
 * Entity kinds live in keyspaces: by default kind `K` lives in the keyspace named
 * `keyspaceOfKind(K)` (the kind name in lower case, characters a keyspace name does not
 * allow replaced by `-`), so the KV kind `kv` lives in keyspace `kv` and `Counter` in
 * `counter`. A node hosts a keyspace's groups with the kind of that name.
 */

import type { GroupRecord, ShardRange } from "../meta/ClusterState.js"
import type { ShardMap } from "../meta/MetaQuery.js"
import type { GroupId } from "../raft/Ids.js"

/** The shard map as the router uses it. */
export interface ShardMapView {
  /** The metadata group's shard map version (0: nothing fetched yet). */
  readonly version: number
  /** Each keyspace's shards, sorted by first slot. */
  readonly keyspaces: ReadonlyMap<string, ReadonlyArray<ShardRange>>
  /** Every group of the map, by id. */
  readonly groups: ReadonlyMap<number, GroupRecord>
}

/** The view before anything was fetched. */
export const empty: ShardMapView = { version: 0, keyspaces: new Map(), groups: new Map() }

/** The view of a shard map answer. */
export const fromShardMap = (map: ShardMap): ShardMapView => ({
  version: map.version,
  keyspaces: new Map(map.keyspaces.map((k) => [k.name, [...k.shards].sort((a, b) => a.start - b.start)])),
  groups: new Map(map.groups.map((g) => [g.id, g])),
})

/** The shard of `keyspace` serving `slot`, by bisection; undefined when none does. */
export const shardOfSlot = (view: ShardMapView, keyspace: string, slot: number): ShardRange | undefined => {
  const shards = view.keyspaces.get(keyspace)
  if (shards === undefined) return undefined
  let lo = 0
  let hi = shards.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const s = shards[mid]!
    if (slot < s.start) hi = mid - 1
    else if (slot >= s.end) lo = mid + 1
    else return s
  }
  return undefined
}

/** The group serving `slot` of `keyspace`. */
export const groupOfSlot = (view: ShardMapView, keyspace: string, slot: number): GroupId | undefined =>
  shardOfSlot(view, keyspace, slot)?.group

/** Every group of `keyspace`, in slot order; undefined when the keyspace is unknown. */
export const groupsOf = (view: ShardMapView, keyspace: string): ReadonlyArray<GroupId> | undefined =>
  view.keyspaces.get(keyspace)?.map((s) => s.group)

const KEYSPACE_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/

/** The default keyspace of an entity kind: its name in lower case, other characters as `-`. */
export const keyspaceOfKind = (kind: string): string => {
  const lower = kind.toLowerCase().replace(/[^a-z0-9_-]/g, "-")
  const name = /^[a-z0-9]/.test(lower) ? lower : `k${lower}`
  return name.slice(0, 64)
}

/** Whether `name` is a valid keyspace name (the metadata group's rule). */
export const isKeyspaceName = (name: string): boolean => KEYSPACE_NAME.test(name)
