/**
 * Hash slots: how a key finds its shard. Every keyspace covers the same fixed slot space
 * `[0, SLOT_COUNT)`, split into contiguous ranges, one per shard. A key's slot is
 * `crc16(utf8(hashed part of key)) mod SLOT_COUNT` (the hashed part: the inside of the first
 * non-empty `{...}` hash tag, else the whole key) with CRC-16/XMODEM (polynomial 0x1021, initial value 0,
 * no reflection, no final xor): the function Redis Cluster uses, so clients in any language
 * have a ready implementation to check against (docs/decisions/0032).
 *
 * CONTRACT: `slotOf` is part of the wire protocol. Changing it moves every key; it MUST NOT
 * change without a new keyspace format.
 */
import { crc16, slotOf as entitySlotOf, SLOT_COUNT } from "../runtime/entity/EntityId.js"
import type { Keyspace, ShardRange } from "./ClusterState.js"

// One hash for every layer: the entity runtime places ids with the same function.
export { crc16, SLOT_COUNT }

const encoder = new TextEncoder()

/**
 * The slot of a key: a string is hashed as its UTF-8 bytes, and only the part inside the
 * first non-empty `{...}` when there is one (hash tags, `EntityId.hashedPart`).
 */
export const slotOf = (key: string | Uint8Array): number =>
  entitySlotOf(typeof key === "string" ? encoder.encode(key) : key)

/**
 * Splits the slot space into `count` contiguous ranges whose sizes differ by at most one:
 * range `i` is `[floor(i * SLOT_COUNT / count), floor((i + 1) * SLOT_COUNT / count))`.
 * `count` must be in 1 .. SLOT_COUNT (the caller validates).
 */
export const splitSlots = (count: number): Array<{ readonly start: number; readonly end: number }> => {
  const ranges: Array<{ start: number; end: number }> = []
  for (let i = 0; i < count; i++) {
    ranges.push({
      start: Math.floor((i * SLOT_COUNT) / count),
      end: Math.floor(((i + 1) * SLOT_COUNT) / count),
    })
  }
  return ranges
}

/** The shard of a keyspace that serves `slot`, by bisection over the sorted ranges. */
export const shardOfSlot = (keyspace: Keyspace, slot: number): ShardRange | undefined =>
  rangeOfSlot(keyspace.shards, slot)

/** The range of `shards` (sorted, disjoint) holding `slot`, by bisection; undefined if none. */
export const rangeOfSlot = (shards: ReadonlyArray<ShardRange>, slot: number): ShardRange | undefined => {
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

/** The shard of a keyspace that serves `key`. */
export const shardOfKey = (keyspace: Keyspace, key: string | Uint8Array): ShardRange | undefined =>
  shardOfSlot(keyspace, slotOf(key))
