/** The byte layout: key order, record round trips, and checksums that catch every single-bit flip. */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { GroupId, MAX_GROUP_ID } from "../../src/raft/Ids.js"
import type { Entry, EntryType, ReplicaId } from "../../src/raft/Types.js"
import {
  decodeEntry,
  decodeEntryTerm,
  decodeFloor,
  decodeHardState,
  decodeSnapshotRef,
  encodeEntry,
  encodeEntryInto,
  encodeFloor,
  encodeHardState,
  encodeHardStateInto,
  encodeSnapshotRef,
  entryKey,
  groupKey,
  indexOfEntryKey,
  Kind,
  readU64,
  Scratch,
  type SnapshotRef,
  writeU64,
} from "../../src/storage/internal/Codec.js"

const safe = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
const group = fc.integer({ min: 0, max: MAX_GROUP_ID }).map(GroupId)
const entryArb: fc.Arbitrary<Entry> = fc.record({
  index: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  term: safe,
  type: fc.constantFrom(0, 1) as fc.Arbitrary<EntryType>,
  data: fc.uint8Array({ maxLength: 300 }),
})
const ids = fc.array(
  safe.filter((n) => n > 0),
  { maxLength: 5 },
) as fc.Arbitrary<ReplicaId[]>
const refArb: fc.Arbitrary<SnapshotRef> = fc.record({
  metadata: fc.record({
    index: safe,
    term: safe,
    confState: fc.record({
      voters: ids,
      learners: ids,
      votersOutgoing: ids,
      learnersNext: ids,
      autoLeave: fc.boolean(),
    }),
  }),
  file: fc.string({ maxLength: 60 }),
  size: safe,
  crc: fc.integer({ min: 0, max: 0xffffffff }),
})

/** One scratch for every case: views are reused and the buffer grows, as in the LevelDB back end. */
const scratch = new Scratch()

/** Every copy of `bytes` with exactly one bit flipped. */
const flips = function* (bytes: Uint8Array): Generator<Buffer> {
  for (let i = 0; i < bytes.length; i++)
    for (let bit = 0; bit < 8; bit++) {
      const copy = Buffer.from(bytes)
      copy[i] = copy[i]! ^ (1 << bit)
      yield copy
    }
}

describe("storage byte layout", () => {
  it("u64 halves round-trip every safe integer", () => {
    fc.assert(
      fc.property(safe, (n) => {
        const b = Buffer.alloc(8)
        writeU64(b, 0, n)
        expect(readU64(b, 0)).toBe(n)
        expect(b.readBigUInt64BE(0)).toBe(BigInt(n))
      }),
    )
    expect(readU64(Buffer.alloc(8, 0xff), 0)).toBe(-1)
  })

  it("orders keys by group, then record kind, then entry index", () => {
    fc.assert(
      fc.property(group, safe, group, safe, (g1, i1, g2, i2) => {
        const byBytes = Math.sign(Buffer.compare(entryKey(g1, i1), entryKey(g2, i2)))
        const byTuple = g1 !== g2 ? Math.sign(g1 - g2) : Math.sign(i1 - i2)
        expect(byBytes).toBe(byTuple)
        expect(indexOfEntryKey(entryKey(g1, i1))).toBe(i1)
        for (const kind of [Kind.HardState, Kind.Snapshot, Kind.Floor])
          expect(Buffer.compare(groupKey(g1, kind), entryKey(g1, i1))).toBe(-1)
        if (g1 < MAX_GROUP_ID) expect(Buffer.compare(entryKey(g1, i1), groupKey(GroupId(g1 + 1), 0))).toBe(-1)
      }),
    )
  })

  it("round-trips entries; the scratch encoder writes the same bytes", () => {
    fc.assert(
      fc.property(group, entryArb, (g, e) => {
        const key = entryKey(g, e.index)
        const value = encodeEntry(key, e)
        expect(encodeEntryInto(scratch, key, e).equals(value)).toBe(true)
        const back = decodeEntry(key, e.index, value)
        expect(back).toEqual({ ...e, data: new Uint8Array(e.data) })
        expect(decodeEntryTerm(key, value)).toBe(e.term)
      }),
    )
  })

  it("rejects an entry with any single bit flipped, or stored under another key", () => {
    fc.assert(
      fc.property(
        group,
        entryArb.map((e) => ({ ...e, data: e.data.slice(0, 24) })),
        (g, e) => {
          const key = entryKey(g, e.index)
          const value = encodeEntry(key, e)
          for (const bad of flips(value)) expect(decodeEntry(key, e.index, bad)).toBeUndefined()
          for (const badKey of flips(key)) expect(decodeEntryTerm(badKey, value)).toBeUndefined()
        },
      ),
      { numRuns: 30 },
    )
  })

  it("round-trips and checks hard state, floor and snapshot records", () => {
    fc.assert(
      fc.property(group, safe, safe, safe, refArb, (g, a, b, c, ref) => {
        const hsKey = groupKey(g, Kind.HardState)
        const hs = { term: a, vote: b as ReplicaId, commit: c }
        const hsValue = encodeHardState(hsKey, hs)
        expect(encodeHardStateInto(scratch, hsKey, hs).equals(hsValue)).toBe(true)
        expect(decodeHardState(hsKey, hsValue)).toEqual(hs)
        for (const bad of flips(hsValue)) expect(decodeHardState(hsKey, bad)).toBeUndefined()
        const floorKey = groupKey(g, Kind.Floor)
        const floorValue = encodeFloor(floorKey, { index: a, term: b })
        expect(decodeFloor(floorKey, floorValue)).toEqual({ index: a, term: b })
        expect(decodeFloor(hsKey, floorValue)).toBeUndefined()
        const snapKey = groupKey(g, Kind.Snapshot)
        const snapValue = encodeSnapshotRef(snapKey, ref)
        expect(decodeSnapshotRef(snapKey, snapValue)).toEqual(ref)
        expect(decodeSnapshotRef(snapKey, snapValue.subarray(0, snapValue.length - 1))).toBeUndefined()
        const flipped = Buffer.from(snapValue)
        flipped[snapValue.length >> 1] = flipped[snapValue.length >> 1]! ^ 0x04
        expect(decodeSnapshotRef(snapKey, flipped)).toBeUndefined()
      }),
      { numRuns: 50 },
    )
  })
})
