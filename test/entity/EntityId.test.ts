import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Slots from "../../src/meta/Slots.js"
import { EntityId } from "../../src/runtime/entity/index.js"

/** CRC-16/XMODEM written bit by bit, independently of the table-driven version. */
const crc16Ref = (bytes: Uint8Array): number => {
  let crc = 0
  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      const top = ((crc >> 15) & 1) ^ ((byte >> bit) & 1)
      crc = ((crc << 1) & 0xffff) ^ (top ? 0x1021 : 0)
    }
  }
  return crc
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

  it("hashes with CRC-16/XMODEM mod 16384, the function of the metadata group", () => {
    expect(EntityId.crc16(EntityId.fromString("123456789"))).toBe(0x31c3)
    // Redis Cluster's test vectors for the same function.
    expect(EntityId.slotOf(EntityId.fromString("foo"))).toBe(12182)
    expect(EntityId.slotOf(EntityId.fromString("bar"))).toBe(5061)
    expect(EntityId.slotOf(EntityId.fromString("user-42"))).toBe(Slots.slotOf("user-42"))
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        expect(EntityId.crc16(bytes)).toBe(crc16Ref(bytes))
        if (EntityId.hashedPart(bytes) === bytes)
          expect(EntityId.slotOf(bytes)).toBe(crc16Ref(bytes) % EntityId.SLOT_COUNT)
        expect(EntityId.slotOf(bytes)).toBe(Slots.slotOf(bytes))
      }),
      { numRuns: 500 },
    )
    expect(EntityId.SLOT_COUNT).toBe(Slots.SLOT_COUNT)
  })

  it("hashes only the first non-empty {...} hash tag (Redis Cluster's rule and test vectors)", () => {
    const slot = (s: string) => EntityId.slotOf(EntityId.fromString(s))
    expect(slot("{user1000}.following")).toBe(slot("user1000"))
    expect(slot("{user1000}.followers")).toBe(slot("user1000"))
    expect(slot("foo{}{bar}")).toBe(EntityId.crc16(EntityId.fromString("foo{}{bar}")) % EntityId.SLOT_COUNT)
    expect(slot("foo{{bar}}zap")).toBe(slot("{bar"))
    expect(slot("foo{bar}{zap}")).toBe(slot("bar"))
    expect(slot("no-close{abc")).toBe(
      EntityId.crc16(EntityId.fromString("no-close{abc")) % EntityId.SLOT_COUNT,
    )
    expect(Slots.slotOf("a{tag}b")).toBe(slot("tag"))
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 12 }).filter((t) => !t.includes("}")),
        fc.string(),
        fc.string(),
        (tag, a, b) => {
          fc.pre(!a.includes("{"))
          expect(slot(`${a}{${tag}}${b}`)).toBe(slot(tag))
        },
      ),
      { numRuns: 300 },
    )
  })

  it("spreads sequential ids evenly over shards of contiguous slot ranges", () => {
    const n = 200_000
    const textIds = Array.from({ length: n }, (_, i) => EntityId.fromString(`user-${i}`))
    const intIds = Array.from({ length: n }, (_, i) => {
      const b = new Uint8Array(4)
      new DataView(b.buffer).setUint32(0, i)
      return b
    })
    for (const ids of [textIds, intIds]) {
      const perSlot = new Uint32Array(EntityId.SLOT_COUNT)
      for (const id of ids) perSlot[EntityId.slotOf(id)]!++
      expect(perSlot.every((c) => c > 0)).toBe(true)
      for (const shards of [16, 64, 256]) {
        const perShard = new Array<number>(shards).fill(0)
        perSlot.forEach((c, slot) => {
          perShard[Math.floor((slot * shards) / EntityId.SLOT_COUNT)]! += c
        })
        const mean = n / shards
        // Measured: at most 2.6% off the mean (text ids, 256 shards).
        for (const count of perShard) expect(Math.abs(count - mean) / mean).toBeLessThan(0.05)
      }
    }
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
