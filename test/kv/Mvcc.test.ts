/**
 * Compaction of the multi-version store over long runs: the retained revision times are
 * exactly those of the retained revisions (by count and by age), however many commits went by
 * (the arrays are cut only now and then), and a store restored from a snapshot's parts at any
 * point goes on exactly as the original.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { MvccStore, type Retention } from "../../shards/kv/Mvcc.js"

const key = (i: number) => new TextEncoder().encode(`k${i}`)

/** One commit of a put of key `k` (mod 5) at shard time `time`. */
const commitPut = (store: MvccStore, k: number, time: number) => {
  store.begin()
  store.put(key(k % 5), new Uint8Array([k & 0xff]), 0)
  store.commit(time)
}

/** The times the store must still hold: every revision from the compaction point on. */
const expectedTimes = (store: MvccStore, timeOf: (rev: number) => number) => {
  const out: Array<readonly [number, number]> = []
  for (let r = Math.max(1, store.compacted); r <= store.revision; r++) out.push([r, timeOf(r)])
  return out
}

describe("MvccStore compaction", () => {
  it("keeps the times of exactly the retained revisions over thousands of commits", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 5, max: 400 }),
        fc.integer({ min: 2_500, max: 4_000 }),
        (maxRevisions, maxAgeMs, commits) => {
          const retention: Retention = { maxRevisions, maxAgeMs }
          const store = new MvccStore(retention)
          // Revision r is committed at time 10 * r: the age rule keeps about maxAgeMs / 10.
          const timeOf = (rev: number) => 10 * rev
          for (let r = 1; r <= commits; r++) {
            commitPut(store, r, timeOf(r))
            const byCount = r - maxRevisions
            const byAge = Math.floor((timeOf(r) - maxAgeMs) / 10)
            expect(store.compacted).toBe(Math.max(0, Math.min(r, Math.max(byCount, byAge))))
            if (r % 97 === 0 || r === commits)
              expect(store.revisionTimes()).toEqual(expectedTimes(store, timeOf))
          }
          // A read at the compaction point is still exact.
          const at = store.getAt(key(store.compacted % 5), store.compacted)
          expect("kv" in at).toBe(true)
        },
      ),
      { numRuns: 8 },
    )
  })

  it("a store restored from its snapshot parts goes on as the original", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3_000 }), fc.integer({ min: 1, max: 1_500 }), (cut, more) => {
        const retention: Retention = { maxRevisions: 16, maxAgeMs: 1_000_000 }
        const a = new MvccStore(retention)
        for (let r = 1; r <= cut; r++) commitPut(a, r, r)
        const b = MvccStore.restore(retention, a.revision, a.compacted, a.revisionTimes(), [
          ...a.allVersions(),
        ])
        for (let r = cut + 1; r <= cut + more; r++) {
          commitPut(a, r, r)
          commitPut(b, r, r)
        }
        expect(b.compacted).toBe(a.compacted)
        expect(b.revisionTimes()).toEqual(a.revisionTimes())
        expect([...b.allVersions()]).toEqual([...a.allVersions()])
        for (let k = 0; k < 5; k++) expect(b.getAt(key(k), a.compacted)).toEqual(a.getAt(key(k), a.compacted))
      }),
      { numRuns: 10 },
    )
  })
})
