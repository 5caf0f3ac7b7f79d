import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Keyspace } from "../../src/meta/ClusterState.js"
import { crc16, SLOT_COUNT, shardOfKey, shardOfSlot, slotOf, splitSlots } from "../../src/meta/Slots.js"
import { GroupId } from "../../src/raft/Ids.js"

const keyspaceOf = (count: number): Keyspace => ({
  name: "k",
  kind: "kv",
  replicationFactor: 3,
  createdAt: 0,
  shards: splitSlots(count).map((r, i) => ({ group: GroupId(i + 1), ...r })),
})

describe("slots", () => {
  it("hash with CRC-16/XMODEM (check values)", () => {
    const utf8 = (s: string) => new TextEncoder().encode(s)
    expect(crc16(utf8("123456789"))).toBe(0x31c3)
    expect(crc16(new Uint8Array(0))).toBe(0)
    // Redis Cluster's documented example: the key "foo" maps to slot 12182.
    expect(slotOf("foo")).toBe(12182)
    expect(slotOf("héllo")).toBe(slotOf(utf8("héllo")))
  })

  it("split the slot space into contiguous ranges differing in size by at most one", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: SLOT_COUNT }), (count) => {
        const ranges = splitSlots(count)
        expect(ranges.length).toBe(count)
        expect(ranges[0]!.start).toBe(0)
        expect(ranges.at(-1)!.end).toBe(SLOT_COUNT)
        const sizes = ranges.map((r) => r.end - r.start)
        expect(Math.min(...sizes)).toBeGreaterThanOrEqual(Math.floor(SLOT_COUNT / count))
        expect(Math.max(...sizes)).toBeLessThanOrEqual(Math.ceil(SLOT_COUNT / count))
        expect(ranges.every((r, i) => i === 0 || r.start === ranges[i - 1]!.end)).toBe(true)
      }),
      { numRuns: 30 },
    )
  })

  it("find the shard of a slot as a linear scan would", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 0, max: SLOT_COUNT - 1 }),
        (count, slot) => {
          const ks = keyspaceOf(count)
          expect(shardOfSlot(ks, slot)).toBe(ks.shards.find((s) => slot >= s.start && slot < s.end))
        },
      ),
      { numRuns: 200 },
    )
    expect(shardOfSlot(keyspaceOf(4), SLOT_COUNT)).toBeUndefined()
  })

  it("send every key to exactly one shard", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.string(), (count, key) => {
        const ks = keyspaceOf(count)
        const shard = shardOfKey(ks, key)!
        const slot = slotOf(key)
        expect(slot).toBeGreaterThanOrEqual(shard.start)
        expect(slot).toBeLessThan(shard.end)
      }),
      { numRuns: 100 },
    )
  })
})
