/**
 * fast-check properties over every decoder of outside input (issue 11, H), at modest run
 * counts: valid encodings are accepted, and generated garbage and mutations of valid encodings
 * (bit flips, truncation, splices) never make a decoder throw anything but its own typed
 * failure. `npm run fuzz` runs the same decoders over a million inputs.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { DECODERS, tryDecode } from "./Decoders.js"
import { mutate, Rng } from "./Mutate.js"

const POOL = 60

describe.each(DECODERS)("decoder $name", (decoder) => {
  const pool = decoder.valid(42, POOL)

  it("accepts its valid encodings", () => {
    expect(pool).toHaveLength(POOL)
    for (const b of pool) expect(tryDecode(decoder, b)).toBe("accepted")
  })

  it("never throws past itself on mutated valid encodings", () => {
    fc.assert(
      fc.property(fc.nat({ max: POOL - 1 }), fc.nat({ max: POOL - 1 }), fc.nat(), (i, j, seed) => {
        const input = mutate(pool[i]!, pool[j]!, new Rng(seed))
        const outcome = tryDecode(decoder, input)
        if (typeof outcome !== "string") expect.fail(`threw past the decoder: ${String(outcome.threw)}`)
      }),
      { numRuns: 300 },
    )
  })

  it("never throws past itself on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (input) => {
        const outcome = tryDecode(decoder, input)
        if (typeof outcome !== "string") expect.fail(`threw past the decoder: ${String(outcome.threw)}`)
      }),
      { numRuns: 300 },
    )
  })
})
