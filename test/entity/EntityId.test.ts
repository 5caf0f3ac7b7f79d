import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { EntityId } from "../../src/runtime/entity/index.js"

/** FNV-1a 32 and fmix32 written independently, in BigInt arithmetic. */
const fnv1aRef = (bytes: Uint8Array): bigint => {
  let h = 0x811c9dc5n
  for (const b of bytes) h = ((h ^ BigInt(b)) * 0x01000193n) & 0xffffffffn
  return h
}
const fmixRef = (h: bigint): bigint => {
  h ^= h >> 16n
  h = (h * 0x85ebca6bn) & 0xffffffffn
  h ^= h >> 13n
  h = (h * 0xc2b2ae35n) & 0xffffffffn
  return h ^ (h >> 16n)
}

const naiveCompare = (a: Uint8Array, b: Uint8Array) => {
  const x = Array.from(a).join(",")
  const y = Array.from(b).join(",")
  for (let i = 0; ; i++) {
    if (i === a.length || i === b.length) return a.length - b.length
    if (a[i] !== b[i]) return a[i]! - b[i]!
    if (x === y) return 0
  }
}

const smallBytes = fc.uint8Array({ maxLength: 6 }).map((b) => b.map((x) => x % 4))

describe("EntityId", () => {
  it("orders byte strings lexicographically, a prefix first", () => {
    expect(EntityId.compare(Uint8Array.of(1), Uint8Array.of(1, 0))).toBeLessThan(0)
    expect(EntityId.compare(Uint8Array.of(2), Uint8Array.of(1, 0xff))).toBeGreaterThan(0)
    expect(EntityId.compare(EntityId.fromString("ab"), EntityId.fromString("ab"))).toBe(0)
    fc.assert(
      fc.property(smallBytes, smallBytes, (a, b) => {
        expect(Math.sign(EntityId.compare(a, b))).toBe(Math.sign(naiveCompare(a, b)))
        expect(EntityId.equals(a, b)).toBe(naiveCompare(a, b) === 0)
      }),
    )
  })

  it("turns a prefix into the exclusive upper bound of the ids that start with it", () => {
    expect(EntityId.prefixEnd(new Uint8Array())).toBeUndefined()
    expect(EntityId.prefixEnd(Uint8Array.of(0xff, 0xff))).toBeUndefined()
    expect(EntityId.prefixEnd(Uint8Array.of(1, 0xff))).toEqual(Uint8Array.of(2))
    fc.assert(
      fc.property(
        smallBytes.map((b) => b.map((x) => (x === 3 ? 0xff : x))),
        smallBytes.map((b) => b.map((x) => (x === 3 ? 0xff : x))),
        (prefix, id) => {
          const end = EntityId.prefixEnd(prefix)
          const inRange =
            EntityId.compare(id, prefix) >= 0 && (end === undefined || EntityId.compare(id, end) < 0)
          expect(inRange).toBe(EntityId.hasPrefix(id, prefix))
        },
      ),
      { numRuns: 500 },
    )
  })

  it("hashes with FNV-1a 32 and fmix32 (golden values are part of the wire contract)", () => {
    expect(fnv1aRef(EntityId.fromString("a"))).toBe(0xe40c292cn)
    expect(fnv1aRef(EntityId.fromString("foobar"))).toBe(0xbf9cf968n)
    const golden: Array<[string, number, number]> = [
      ["", 0xab3e7c0b, 15371],
      ["a", 0x1a80b1b3, 12723],
      ["foobar", 0x0c0da6dc, 9948],
      ["user-42", 0x7c2a1196, 4502],
    ]
    for (const [text, hash, slot] of golden) {
      expect(EntityId.hash32(EntityId.fromString(text))).toBe(hash)
      expect(EntityId.slotOf(EntityId.fromString(text))).toBe(slot)
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        expect(BigInt(EntityId.hash32(bytes))).toBe(fmixRef(fnv1aRef(bytes)))
        expect(EntityId.slotOf(bytes)).toBe(EntityId.hash32(bytes) % EntityId.SLOT_COUNT)
      }),
    )
  })

  it("spreads sequential ids evenly over the slots", () => {
    const chiSquare = (ids: Iterable<Uint8Array>, n: number) => {
      const counts = new Uint32Array(EntityId.SLOT_COUNT)
      for (const id of ids) counts[EntityId.slotOf(id)]!++
      const expected = n / EntityId.SLOT_COUNT
      let chi = 0
      for (const c of counts) chi += (c - expected) ** 2 / expected
      return chi
    }
    const n = 200_000
    // Degrees of freedom 16,383: mean 16,383, standard deviation 181. Allow five deviations.
    const bound = EntityId.SLOT_COUNT - 1 + 5 * Math.sqrt(2 * (EntityId.SLOT_COUNT - 1))
    const textIds = Array.from({ length: n }, (_, i) => EntityId.fromString(`user-${i}`))
    expect(chiSquare(textIds, n)).toBeLessThan(bound)
    const intIds = Array.from({ length: n }, (_, i) => {
      const b = new Uint8Array(4)
      new DataView(b.buffer).setUint32(0, i)
      return b
    })
    expect(chiSquare(intIds, n)).toBeLessThan(bound)
  })

  it("converts UTF-8 both ways and validates ids", () => {
    expect(EntityId.fromString("h\u00e9")).toEqual(Uint8Array.of(0x68, 0xc3, 0xa9))
    expect(EntityId.toStringStrict(Uint8Array.of(0x68, 0xc3, 0xa9))).toBe("h\u00e9")
    expect(EntityId.toStringStrict(Uint8Array.of(0xc3))).toBeUndefined()
    expect(EntityId.toStringLenient(Uint8Array.of(0x61, 0xc3))).toBe("a\ufffd")
    expect(EntityId.make("x")).toEqual(Uint8Array.of(0x78))
    expect(EntityId.display(EntityId.fromString("user-1"))).toBe('"user-1"')
    expect(EntityId.display(Uint8Array.of(0, 0xff))).toBe("0x00ff")
    expect(EntityId.invalidReason(new Uint8Array())).toMatch(/empty/)
    expect(EntityId.invalidReason(new Uint8Array(EntityId.MAX_ENTITY_ID_BYTES))).toBeUndefined()
    expect(EntityId.invalidReason(new Uint8Array(EntityId.MAX_ENTITY_ID_BYTES + 1))).toMatch(/4097 bytes/)
  })
})
