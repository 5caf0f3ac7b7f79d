/**
 * A client's view of the metadata group's shard map: which group serves which hash slot of
 * which keyspace, at which shard map version. Built from a `MetaQuery.ShardMap` answer; pure
 * lookups (the router caches one view and replaces it when the metadata group has a newer one).
 *
 * Entity kinds live in keyspaces: every keyspace records the kind its shards run. A client
 * sends the calls of kind `K` to the keyspace of kind `K` (`keyspaceFor`): the only one, or,
 * when several keyspaces run `K`, the one named `keyspaceOfKind(K)` (the kind name in lower
 * case, other characters as `-`: `kv` for the KV store, `counter` for `Counter`). A client may
 * also name the keyspace itself.
 */

import type { GroupRecord, ShardRange } from "../meta/ClusterState.js"
import type { ShardMap } from "../meta/MetaQuery.js"
import { rangeOfSlot } from "../meta/Slots.js"
import type { GroupId } from "../raft/Ids.js"

/** The shard map as the router uses it. */
export interface ShardMapView {
  /** The metadata group's shard map version (0: nothing fetched yet). */
  readonly version: number
  /** Each keyspace's shards, sorted by first slot. */
  readonly keyspaces: ReadonlyMap<string, ReadonlyArray<ShardRange>>
  /** The names of the keyspaces of each kind, sorted. */
  readonly byKind: ReadonlyMap<string, ReadonlyArray<string>>
  /** Every group of the map, by id. */
  readonly groups: ReadonlyMap<number, GroupRecord>
}

/** The view before anything was fetched. */
export const empty: ShardMapView = { version: 0, keyspaces: new Map(), byKind: new Map(), groups: new Map() }

/** The view of a shard map answer. */
export const fromShardMap = (map: ShardMap): ShardMapView => {
  const byKind = new Map<string, string[]>()
  for (const k of map.keyspaces) byKind.set(k.kind, [...(byKind.get(k.kind) ?? []), k.name].sort())
  return {
    version: map.version,
    keyspaces: new Map(map.keyspaces.map((k) => [k.name, [...k.shards].sort((a, b) => a.start - b.start)])),
    byKind,
    groups: new Map(map.groups.map((g) => [g.id, g])),
  }
}

/**
 * The keyspace of kind `kind`'s entities: the only keyspace running it, else the one named
 * `keyspaceOfKind(kind)` among several, else (none runs it) `keyspaceOfKind(kind)`, which the
 * map then does not have.
 */
export const keyspaceFor = (view: ShardMapView, kind: string): string => {
  const named = keyspaceOfKind(kind)
  const candidates = view.byKind.get(kind) ?? []
  if (candidates.length === 1) return candidates[0]!
  return candidates.includes(named) || candidates.length === 0 ? named : candidates[0]!
}

/** The shard of `keyspace` serving `slot`, by bisection; undefined when none does. */
export const shardOfSlot = (view: ShardMapView, keyspace: string, slot: number): ShardRange | undefined => {
  const shards = view.keyspaces.get(keyspace)
  return shards === undefined ? undefined : rangeOfSlot(shards, slot)
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
