/**
 * The shard map as code looks things up in it: which group serves which hash slot of which
 * keyspace, which keyspace runs which kind, and each group's record and shard. Built once per
 * map version (`fromShardMap`); pure lookups after that.
 *
 * THE SHARD MAP, ONE STORY IN FOUR MODULES:
 *
 * 1. `PagedShardMap.ts` (src/meta) — its WIRE FORM. The metadata group answers `GetShardMap`
 *    with a `MetaQuery.ShardMap` (keyspaces with their shards' slot ranges, group records, a
 *    version); a map over 512 KiB of JSON goes out in pages of one version, which readers merge
 *    (`completeShardMap`).
 * 2. `ShardMapIndex.ts` (this module) — its LOOKUP STRUCTURE, shared by both copies below.
 * 3. `ClientShardMap.ts` (src/client) — THE ROUTER'S COPY: fetched with `knownVersion` (a
 *    current copy costs a small `NotModified`), refreshed when a request says it may be stale
 *    (rate-limited, one fetch at a time), read as a `ShardMapIndex` to route every call.
 * 4. `NodeShardMap.ts` (src/node) — THE NODE'S COPY: fetched by the metadata agent every report
 *    period; it answers `ownsSlot` (a request for a slot its group does not own gets
 *    `WrongShard`) and `kindOf`, and the agent reconciles the local replicas with it.
 *
 * Both copies only ever move to newer versions. docs/protocol.md describes the wire for clients
 * in other languages.
 *
 * Entity kinds live in keyspaces: every keyspace records the kind its shards run. A client
 * sends the calls of kind `K` to the keyspace of kind `K` (`keyspaceFor`): the only one, or,
 * when several keyspaces run `K`, the one named `keyspaceOfKind(K)` (the kind name in lower
 * case, other characters as `-`: `kv` for the KV store, `counter` for `Counter`). A client may
 * also name the keyspace itself.
 */
import type { GroupId } from "../raft/Ids.js"
import type { GroupRecord, ShardRange } from "./ClusterState.js"
import type { ShardMap } from "./MetaQuery.js"
import { rangeOfSlot } from "./Slots.js"

/** The shard a group serves. */
export interface GroupShard {
  readonly keyspace: string
  /** The state machine kind of its keyspace. */
  readonly kind: string
  /** Its hash slots, `[start, end)`. */
  readonly start: number
  readonly end: number
}

/** See the module comment. */
export interface ShardMapIndex {
  /** The metadata group's shard map version (0: nothing fetched yet). */
  readonly version: number
  /** Each keyspace's shards, sorted by first slot. */
  readonly keyspaces: ReadonlyMap<string, ReadonlyArray<ShardRange>>
  /** The names of the keyspaces of each kind, sorted. */
  readonly byKind: ReadonlyMap<string, ReadonlyArray<string>>
  /** Every group of the map, by id. */
  readonly groups: ReadonlyMap<number, GroupRecord>
  /** The shard of every group that serves one, by group id. */
  readonly shards: ReadonlyMap<number, GroupShard>
}

/** The index before anything was fetched. */
export const empty: ShardMapIndex = {
  version: 0,
  keyspaces: new Map(),
  byKind: new Map(),
  groups: new Map(),
  shards: new Map(),
}

/** The index of a (whole) shard map. */
export const fromShardMap = (map: ShardMap): ShardMapIndex => {
  const keyspaces = new Map<string, ReadonlyArray<ShardRange>>()
  const byKind = new Map<string, string[]>()
  const shards = new Map<number, GroupShard>()
  for (const k of map.keyspaces) {
    keyspaces.set(
      k.name,
      [...k.shards].sort((a, b) => a.start - b.start),
    )
    byKind.set(k.kind, [...(byKind.get(k.kind) ?? []), k.name].sort())
    for (const s of k.shards)
      shards.set(s.group, { keyspace: k.name, kind: k.kind, start: s.start, end: s.end })
  }
  return {
    version: map.version,
    keyspaces,
    byKind,
    groups: new Map(map.groups.map((g) => [g.id, g])),
    shards,
  }
}

/**
 * The keyspace of kind `kind`'s entities: the only keyspace running it, else the one named
 * `keyspaceOfKind(kind)` among several, else (none runs it) `keyspaceOfKind(kind)`, which the
 * map then does not have.
 */
export const keyspaceFor = (index: ShardMapIndex, kind: string): string => {
  const named = keyspaceOfKind(kind)
  const candidates = index.byKind.get(kind) ?? []
  if (candidates.length === 1) return candidates[0]!
  return candidates.includes(named) || candidates.length === 0 ? named : candidates[0]!
}

/** The shard of `keyspace` serving `slot`, by bisection; undefined when none does. */
export const shardOfSlot = (index: ShardMapIndex, keyspace: string, slot: number): ShardRange | undefined => {
  const shards = index.keyspaces.get(keyspace)
  return shards === undefined ? undefined : rangeOfSlot(shards, slot)
}

/** The group serving `slot` of `keyspace`. */
export const groupOfSlot = (index: ShardMapIndex, keyspace: string, slot: number): GroupId | undefined =>
  shardOfSlot(index, keyspace, slot)?.group

/** Every group of `keyspace`, in slot order; undefined when the keyspace is unknown. */
export const groupsOf = (index: ShardMapIndex, keyspace: string): ReadonlyArray<GroupId> | undefined =>
  index.keyspaces.get(keyspace)?.map((s) => s.group)

/** Whether `group` owns `slot`: undefined when the map does not say (unknown group). */
export const ownsSlot = (index: ShardMapIndex, group: GroupId, slot: number): boolean | undefined => {
  const shard = index.shards.get(group)
  return shard === undefined ? undefined : slot >= shard.start && slot < shard.end
}

/** The default keyspace of an entity kind: its name in lower case, other characters as `-`. */
export const keyspaceOfKind = (kind: string): string => {
  const lower = kind.toLowerCase().replace(/[^a-z0-9_-]/g, "-")
  const name = /^[a-z0-9]/.test(lower) ? lower : `k${lower}`
  return name.slice(0, 64)
}
