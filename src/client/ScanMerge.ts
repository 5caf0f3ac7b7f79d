/**
 * Merging the scan pages of several shards into one page in key order.
 *
 * Entities are placed by hash, so a scan of a kind asks every shard for up to `limit` entries
 * after the same `after` key and merges the answers. A shard that stopped early (its page is
 * full, or hit the reply size budget) may hold more entries after the last one it returned,
 * so the merged page is COMPLETE ONLY UP TO THE SMALLEST LAST KEY OF THE SHARDS THAT HAVE
 * MORE: entries beyond that cut are dropped (the next page finds them again). The merged
 * page's continuation is its own last key, which every shard can resume after: a shard scan's
 * `after` bound means "ids strictly greater than this" (decision 0051).
 */
import { compare, prefixEnd } from "../runtime/entity/EntityId.js"
import type { ScanEntry, ScanPage } from "../runtime/entity/ShardScan.js"

/** Merges shard pages into one page of at most `limit` entries (see the module comment). */
export const merge = <S>(pages: ReadonlyArray<ScanPage<S>>, limit: number): ScanPage<S> => {
  let cut: Uint8Array | undefined
  for (const page of pages) {
    if (page.continuation === undefined) continue
    const last = page.entries[page.entries.length - 1]?.id ?? page.continuation
    if (cut === undefined || compare(last, cut) < 0) cut = last
  }
  const all: ScanEntry<S>[] = []
  for (const page of pages)
    for (const entry of page.entries) if (cut === undefined || compare(entry.id, cut) <= 0) all.push(entry)
  all.sort((a, b) => compare(a.id, b.id))
  const entries = all.slice(0, limit)
  const more = cut !== undefined || all.length > limit
  const last = entries[entries.length - 1]?.id
  return { entries, continuation: more ? (last ?? cut) : undefined }
}

/**
 * The range `[start, end)` holding exactly the keys of `[start, end)` that start with
 * `prefix`: from the larger of `start` and `prefix`, to the smaller of `end` and the first
 * key after every key with that prefix (none when the prefix is all 0xff bytes: every key at
 * or above such a prefix starts with it).
 *
 * Clients send prefixes this way (decision 0051): shards compute the same bound from a
 * `prefix` field, but a shard behind NATS receives its bytes as a Node `Buffer` view, on which
 * that computation (`EntityId.prefixEnd`, which copies with `slice`) changes the prefix itself.
 */
export const prefixRange = (
  prefix: Uint8Array | undefined,
  start: Uint8Array | undefined,
  end: Uint8Array | undefined,
): { readonly start: Uint8Array | undefined; readonly end: Uint8Array | undefined } => {
  if (prefix === undefined || prefix.length === 0) return { start, end }
  const own = Uint8Array.from(prefix)
  const after = prefixEnd(Uint8Array.from(prefix))
  return {
    start: start === undefined || compare(own, start) > 0 ? own : start,
    end: after === undefined ? end : end === undefined || compare(after, end) < 0 ? after : end,
  }
}
