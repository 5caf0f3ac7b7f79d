/**
 * The shard map's wire form (the story of the shard map's modules: ShardMapIndex.ts): one
 * answer, or pages when it is larger than one bus message. A map is about 235 bytes of JSON per shard (its
 * slot range and its group record), so past roughly 4,000 shards it no longer fits NATS's
 * 1 MiB. The metadata group then answers `GetShardMap` in pages: page `p` of `pages` carries
 * the keyspaces' shard ranges and the group records that fall in its share of the whole
 * (`SHARD_MAP_PAGE_BYTES` of JSON at most, unless a single record is larger), all at the same
 * `version`. A keyspace whose shards span pages appears in each with that page's shards.
 *
 * Readers ask page 0 (with `knownVersion`, as for a small map), then pages 1 .. pages - 1, and
 * merge them (`mergeShardMapPages`); a page of another version means the map changed
 * meanwhile, so they start again (`completeShardMap`). A map that fits in one page is
 * answered whole, without `page` and `pages`: small clusters see no difference.
 */
import { Effect, Schema } from "effect"
import { GroupRecord, Keyspace, type ShardRange } from "./ClusterState.js"
import { Count } from "./IdSchemas.js"

/**
 * The shard map at `version`, or its page `page` of `pages` (both absent: the whole map): the
 * answer to `GetShardMap` (MetaQuery.ts re-exports it with the other answers).
 */
export const ShardMap = Schema.TaggedStruct("ShardMap", {
  version: Count,
  keyspaces: Schema.Array(Keyspace),
  groups: Schema.Array(GroupRecord),
  page: Schema.optional(Count),
  pages: Schema.optional(Count),
})
/** See `ShardMap`. */
export interface ShardMap extends Schema.Schema.Type<typeof ShardMap> {}

/** The JSON bytes of keyspace shard ranges and group records one page carries at most. */
export const SHARD_MAP_PAGE_BYTES = 512 * 1024

interface Page {
  readonly keyspaces: Array<Keyspace & { shards: ShardRange[] }>
  readonly groups: GroupRecord[]
  bytes: number
}

/** The pages of the map of `keyspaces` and `groups` at `version` (one when it fits). */
export const paginateShardMap = (
  version: number,
  keyspaces: ReadonlyArray<Keyspace>,
  groups: ReadonlyArray<GroupRecord>,
  maxBytes: number = SHARD_MAP_PAGE_BYTES,
): ReadonlyArray<ShardMap> => {
  const whole: ShardMap = { _tag: "ShardMap", version, keyspaces, groups }
  // ASCII JSON: length = bytes. The common case costs one pass.
  if (JSON.stringify(keyspaces).length + JSON.stringify(groups).length <= maxBytes) return [whole]
  const pages: Page[] = [{ keyspaces: [], groups: [], bytes: 0 }]
  const room = (size: number): Page => {
    const last = pages.at(-1)!
    if (last.bytes === 0 || last.bytes + size <= maxBytes) return last
    const next: Page = { keyspaces: [], groups: [], bytes: 0 }
    pages.push(next)
    return next
  }
  for (const ks of keyspaces) {
    const header = JSON.stringify({ ...ks, shards: [] }).length
    for (const shard of ks.shards) {
      const size = JSON.stringify(shard).length + 1
      const page = room(size + header)
      const last = page.keyspaces.at(-1)
      if (last?.name === ks.name) {
        last.shards.push(shard)
        page.bytes += size
      } else {
        page.keyspaces.push({ ...ks, shards: [shard] })
        page.bytes += size + header
      }
    }
  }
  for (const g of groups) {
    const size = JSON.stringify(g).length + 1
    const page = room(size)
    page.groups.push(g)
    page.bytes += size
  }
  return pages.map(
    (p, page): ShardMap => ({
      _tag: "ShardMap",
      version,
      keyspaces: p.keyspaces,
      groups: p.groups,
      page,
      pages: pages.length,
    }),
  )
}

/** The whole map from all its pages, in order (all of one version). */
export const mergeShardMapPages = (pages: ReadonlyArray<ShardMap>): ShardMap => {
  const keyspaces: Array<Keyspace & { shards: ShardRange[] }> = []
  const groups: GroupRecord[] = []
  for (const p of pages) {
    for (const ks of p.keyspaces) {
      const last = keyspaces.at(-1)
      if (last?.name === ks.name) last.shards.push(...ks.shards)
      else keyspaces.push({ ...ks, shards: [...ks.shards] })
    }
    groups.push(...p.groups)
  }
  return { _tag: "ShardMap", version: pages[0]?.version ?? 0, keyspaces, groups }
}

/**
 * The whole map, given its first page and `pageAt(p)` to ask for page `p` (`undefined`: no
 * map came back). Starts again from page 0 when the map changes between pages, at most
 * `attempts` times; `undefined` when it could not get one version's pages.
 */
export const completeShardMap = <E, R>(
  first: ShardMap,
  pageAt: (page: number) => Effect.Effect<ShardMap | undefined, E, R>,
  attempts = 3,
): Effect.Effect<ShardMap | undefined, E, R> =>
  Effect.gen(function* () {
    let head: ShardMap | undefined = first
    for (let attempt = 0; head !== undefined && attempt < attempts; attempt++) {
      const count = head.pages ?? 1
      const pages: ShardMap[] = [head]
      for (let p = 1; p < count; p++) {
        const page: ShardMap | undefined = yield* pageAt(p)
        if (page === undefined) return undefined
        if (page.version !== head.version || page.pages !== count) break
        pages.push(page)
      }
      if (pages.length === count) return count === 1 ? head : mergeShardMapPages(pages)
      head = yield* pageAt(0)
    }
    return undefined
  })
