import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { EntityId } from "../../src/runtime/entity/index.js"
import { CHUNK, OrderedMap } from "../../src/runtime/entity/OrderedMap.js"

const hex = EntityId.toHex
/** Keys from a space of 4,096 two-byte ids, so that chunks split, empty and merge. */
const keyArb = fc.integer({ min: 0, max: 4095 }).map((n) => Uint8Array.of(n >> 6, n & 63))
const opArb = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant("set" as const), key: keyArb, value: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant("delete" as const), key: keyArb }) },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant("from" as const), key: keyArb, exclusive: fc.boolean() }),
  },
)

describe("OrderedMap", () => {
  it("behaves as a sorted Map under random inserts, deletes and seeks", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 2000, size: "max" }), (ops) => {
        const map = new OrderedMap<number>()
        const model = new Map<string, number>()
        for (const op of ops) {
          if (op.t === "set") {
            map.set(op.key, op.value)
            model.set(hex(op.key), op.value)
          } else if (op.t === "delete") {
            expect(map.delete(op.key)).toBe(model.delete(hex(op.key)))
          } else {
            const from = hex(op.key)
            const expected = [...model.keys()].sort().filter((k) => (op.exclusive ? k > from : k >= from))
            const got: string[] = []
            for (const [k] of map.entriesFrom(op.key, op.exclusive)) {
              if (got.length === 20) break
              got.push(hex(k))
            }
            expect(got).toEqual(expected.slice(0, 20))
          }
          expect(map.size).toBe(model.size)
        }
        const sorted = [...model.entries()].sort(([a], [b]) => (a < b ? -1 : 1))
        expect([...map.entries()].map(([k, v]) => [hex(k), v])).toEqual(sorted)
        for (const [k, v] of model) {
          const key = Uint8Array.from(Buffer.from(k, "hex"))
          expect(map.get(key)).toBe(v)
          expect(map.has(key)).toBe(true)
        }
        // Chunks hold at most 2 * CHUNK entries and none is empty.
        expect(map.chunkCount).toBeGreaterThanOrEqual(Math.ceil(map.size / (2 * CHUNK)))
        expect(map.chunkCount).toBeLessThanOrEqual(Math.max(map.size, 1))
      }),
      { numRuns: 20 },
    )
  })

  it("splits and merges chunks as it grows and shrinks", () => {
    const map = new OrderedMap<number>()
    const key = (i: number) => Uint8Array.of(i >> 8, i & 255)
    for (let i = 0; i < 10 * CHUNK; i++) map.set(key(i), i)
    expect(map.chunkCount).toBeGreaterThan(1)
    const grown = map.chunkCount
    for (let i = 0; i < 10 * CHUNK; i++) if (i % 16 !== 0) map.delete(key(i))
    expect(map.size).toBe((10 * CHUNK) / 16)
    expect(map.chunkCount).toBeLessThan(grown)
    expect([...map.entries()].map(([, v]) => v)).toEqual(
      Array.from({ length: (10 * CHUNK) / 16 }, (_, i) => i * 16),
    )
  })

  it("builds from sorted entries and refuses unsorted ones", () => {
    const entries = Array.from({ length: 1000 }, (_, i) => [Uint8Array.of(i >> 8, i & 255), i] as const)
    const map = OrderedMap.fromSorted(entries)
    expect(map.size).toBe(1000)
    expect(map.get(Uint8Array.of(3, 7))).toBe(3 * 256 + 7)
    expect([...map.entriesFrom(Uint8Array.of(2, 231), true)][0]?.[1]).toBe(2 * 256 + 232)
    expect([...map.entriesFrom(Uint8Array.of(3, 231), true)]).toEqual([])
    expect(() => OrderedMap.fromSorted([entries[1]!, entries[0]!])).toThrow(RangeError)
    expect(() => OrderedMap.fromSorted([entries[0]!, entries[0]!])).toThrow(RangeError)
  })

  it("answers on an empty map", () => {
    const map = new OrderedMap<number>()
    expect(map.get(Uint8Array.of(1))).toBeUndefined()
    expect(map.delete(Uint8Array.of(1))).toBe(false)
    expect([...map.entriesFrom(Uint8Array.of(1))]).toEqual([])
  })
})
