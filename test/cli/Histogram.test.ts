import { describe, expect, it } from "vitest"
import { Histogram } from "../../src/cli/Histogram.js"

/** The exact `p`th percentile of sorted samples: the smallest sample with p% at or below it. */
const exact = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!

describe("Histogram", () => {
  it("gives percentiles within 0.1% of the exact ones, from microseconds to seconds", () => {
    let seed = 7
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
      return seed / 2 ** 31
    }
    const samples = Array.from({ length: 20_000 }, () => 0.001 * 10 ** (random() * 6.5))
    const h = new Histogram()
    for (const s of samples) h.record(s)
    const sorted = [...samples].sort((a, b) => a - b)
    expect(h.count).toBe(samples.length)
    for (const p of [1, 50, 90, 99, 99.9, 100]) {
      const want = exact(sorted, p)
      expect(Math.abs(h.percentile(p) - want) / want).toBeLessThan(0.001)
    }
  })

  it("adds another histogram's samples", () => {
    const a = new Histogram()
    const b = new Histogram()
    for (let i = 1; i <= 100; i++) a.record(i)
    for (let i = 101; i <= 300; i++) b.record(i)
    a.add(b)
    expect(a.count).toBe(300)
    expect(a.percentile(50)).toBeCloseTo(150, 0)
    expect(a.percentile(100)).toBeCloseTo(300, 0)
    expect(b.count).toBe(200)
  })

  it("is NaN when empty, and counts sub-nanosecond samples as one nanosecond", () => {
    const h = new Histogram()
    expect(h.percentile(50)).toBeNaN()
    h.record(0)
    expect(h.count).toBe(1)
    expect(h.percentile(100)).toBeCloseTo(1e-6, 9)
  })
})
