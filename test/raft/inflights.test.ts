/**
 * The in-flight window against a plain array model: random adds, frees and resets, with count
 * and byte limits and ring wrap-around.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Inflights } from "../../src/raft/Inflights.js"

type Op = { kind: "add"; bytes: number } | { kind: "free"; back: number } | { kind: "reset" }

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant("add" as const), bytes: fc.integer({ min: 0, max: 50 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("free" as const), back: fc.integer({ min: -2, max: 6 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "reset" as const }) },
)

describe("Inflights", () => {
  it("behaves like a FIFO of (index, bytes) with count and byte limits", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 120 }),
        fc.array(op, { maxLength: 80 }),
        (capacity, maxBytes, ops) => {
          const w = new Inflights(capacity, maxBytes)
          let model: { index: number; bytes: number }[] = []
          let next = 1
          const full = () =>
            model.length === capacity || (maxBytes > 0 && model.reduce((s, x) => s + x.bytes, 0) >= maxBytes)
          for (const o of ops) {
            if (o.kind === "add") {
              if (model.length === capacity) {
                expect(() => w.add(next, o.bytes)).toThrow(RangeError)
                continue
              }
              if (full()) continue // callers never add to a window full by bytes
              w.add(next, o.bytes)
              model.push({ index: next, bytes: o.bytes })
              next += 1 + (o.bytes % 3)
            } else if (o.kind === "free") {
              const to = (model[model.length - 1]?.index ?? next) - o.back
              w.freeLE(to)
              model = model.filter((x) => x.index > to)
            } else {
              w.reset()
              model = []
            }
            expect(w.count()).toBe(model.length)
            expect(w.full()).toBe(full())
          }
        },
      ),
      { numRuns: 400 },
    )
  })

  it("examples: frees up to an index, wraps around, counts bytes", () => {
    const w = new Inflights(3, 100)
    w.add(1, 10)
    w.add(2, 10)
    w.add(3, 10)
    expect(w.full()).toBe(true)
    w.freeLE(1)
    expect(w.count()).toBe(2)
    w.add(4, 10) // wraps in the ring
    w.freeLE(0) // nothing below the first
    expect(w.count()).toBe(3)
    w.freeLE(3)
    expect(w.count()).toBe(1)
    w.add(5, 95)
    expect(w.full()).toBe(true) // 105 bytes >= 100
    w.freeLE(4)
    expect(w.full()).toBe(false)
    w.freeLE(100)
    expect(w.count()).toBe(0)
  })
})
