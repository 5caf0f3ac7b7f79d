import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Cbor } from "../../src/runtime/entity/index.js"

const hexOf = (b: Uint8Array) => Buffer.from(b).toString("hex")
const fromHex = (h: string) => new Uint8Array(Buffer.from(h, "hex"))

const { value: cborValue } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.constant(undefined),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double(),
    fc.fullUnicodeString({ maxLength: 12 }),
    fc.uint8Array({ maxLength: 16 }),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.fullUnicodeString({ maxLength: 6 }), tie("value"), { maxKeys: 4 }),
  ),
}))

const decodeError = (bytes: Uint8Array): string => {
  try {
    Cbor.decode(bytes)
  } catch (e) {
    expect(e).toBeInstanceOf(Cbor.CborError)
    return (e as Cbor.CborError).message
  }
  throw new Error("decoded")
}

describe("Cbor", () => {
  it("encodes the examples of RFC 8949 Appendix A that are in the subset", () => {
    const cases: Array<[Cbor.CborValue, string]> = [
      [0, "00"],
      [23, "17"],
      [24, "1818"],
      [100, "1864"],
      [1000, "1903e8"],
      [1000000, "1a000f4240"],
      [1000000000000, "1b000000e8d4a51000"],
      [Number.MAX_SAFE_INTEGER, "1b001fffffffffffff"],
      [-1, "20"],
      [-1000, "3903e7"],
      [1.1, "fb3ff199999999999a"],
      [-0, "fb8000000000000000"],
      [Number.NaN, "fb7ff8000000000000"],
      [Number.POSITIVE_INFINITY, "fb7ff0000000000000"],
      [false, "f4"],
      [true, "f5"],
      [null, "f6"],
      [undefined, "f7"],
      [new Uint8Array(), "40"],
      [Uint8Array.of(1, 2, 3, 4), "4401020304"],
      ["", "60"],
      ["a", "6161"],
      ["\u00fc", "62c3bc"],
      ["\u6c34", "63e6b0b4"],
      ["\ud800\udd51", "64f0908591"],
      [[], "80"],
      [[1, [2, 3], [4, 5]], "8301820203820405"],
      [{}, "a0"],
      [{ a: 1, b: [2, 3] }, "a26161016162820203"],
    ]
    for (const [value, hex] of cases) {
      expect(hexOf(Cbor.encode(value))).toBe(hex)
      const back = Cbor.decode(fromHex(hex))
      if (typeof value === "number" && Number.isNaN(value)) expect(back).toBeNaN()
      else expect(back).toStrictEqual(value)
    }
  })

  it("decodes the shorter float forms other encoders use", () => {
    expect(Cbor.decode(fromHex("f93c00"))).toBe(1)
    expect(Cbor.decode(fromHex("f97bff"))).toBe(65504)
    expect(Cbor.decode(fromHex("f90001"))).toBe(2 ** -24)
    expect(Cbor.decode(fromHex("f9fc00"))).toBe(Number.NEGATIVE_INFINITY)
    expect(Cbor.decode(fromHex("f97e00"))).toBeNaN()
    expect(Cbor.decode(fromHex("fa47c35000"))).toBe(100000)
    // Non-shortest integer forms decode to the same value.
    expect(Cbor.decode(fromHex("1b0000000000000001"))).toBe(1)
  })

  it("round-trips every value of the subset, and re-encodes to the same bytes", () => {
    fc.assert(
      fc.property(cborValue, (value) => {
        const bytes = Cbor.encode(value as Cbor.CborValue)
        const back = Cbor.decode(bytes)
        expect(back).toStrictEqual(value)
        expect(Cbor.encode(back)).toEqual(bytes)
      }),
      { numRuns: 500 },
    )
  })

  it("writes Raw items through unchanged", () => {
    const inner = Cbor.encode({ x: [1, 2] })
    expect(Cbor.encode([new Cbor.Raw(inner), 3])).toEqual(Cbor.encode([{ x: [1, 2] }, 3]))
  })

  it("never throws anything but CborError on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          Cbor.decode(bytes)
        } catch (e) {
          expect(e).toBeInstanceOf(Cbor.CborError)
        }
      }),
      { numRuns: 3000 },
    )
  })

  it("rejects what is outside the subset with a reason", () => {
    expect(decodeError(new Uint8Array())).toMatch(/truncated/)
    expect(decodeError(fromHex("0000"))).toMatch(/trailing/)
    expect(decodeError(fromHex("c074"))).toMatch(/tags/)
    expect(decodeError(fromHex("9fff"))).toMatch(/indefinite/)
    expect(decodeError(fromHex("1c"))).toMatch(/reserved/)
    expect(decodeError(fromHex("f0"))).toMatch(/simple/)
    expect(decodeError(fromHex("1b0020000000000000"))).toMatch(/2\^53/)
    expect(decodeError(fromHex("a1016161"))).toMatch(/text strings/)
    expect(decodeError(fromHex("a2616101616102"))).toMatch(/duplicate/)
    expect(decodeError(fromHex("62c328"))).toMatch(/UTF-8/)
  })

  it("checks declared lengths against the bytes present before allocating", () => {
    expect(decodeError(fromHex("5b001fffffffffffff"))).toMatch(/truncated/)
    expect(decodeError(fromHex("9b001fffffffffffff"))).toMatch(/cannot fit/)
    expect(decodeError(fromHex("bb001fffffffffffff"))).toMatch(/cannot fit/)
  })

  it("bounds nesting depth on both sides", () => {
    const nested = (depth: number): Cbor.CborValue => (depth === 0 ? 0 : [nested(depth - 1)])
    expect(Cbor.decode(Cbor.encode(nested(Cbor.MAX_DEPTH)))).toStrictEqual(nested(Cbor.MAX_DEPTH))
    expect(() => Cbor.encode(nested(Cbor.MAX_DEPTH + 1))).toThrow(Cbor.CborError)
    const deep = new Uint8Array(Cbor.MAX_DEPTH + 2).fill(0x81)
    deep[deep.length - 1] = 0
    expect(decodeError(deep)).toMatch(/nesting/)
  })

  it("refuses values it cannot represent exactly", () => {
    expect(() => Cbor.encode("\ud800")).toThrow(/surrogate/)
    expect(() => Cbor.encode(new Date(0) as never)).toThrow(/Date/)
    expect(() => Cbor.encode(new Map() as never)).toThrow(/Map/)
    expect(() => Cbor.encode(1n as never)).toThrow(/bigint/)
    expect(() => Cbor.encode((() => 1) as never)).toThrow(/function/)
  })

  it("stays correct when encoding re-enters itself and after large values", () => {
    const inner = Cbor.encode([1, 2])
    const reentrant = {
      get x() {
        return Cbor.encode([1, 2])
      },
    }
    expect(Cbor.encode(reentrant as unknown as Cbor.CborValue)).toEqual(Cbor.encode({ x: inner }))
    const big = new Uint8Array(200_000).fill(9)
    const encodedBig = Cbor.encode([big, "tail"])
    expect(Cbor.decode(encodedBig)).toStrictEqual([big, "tail"])
    expect(hexOf(Cbor.encode([1]))).toBe("8101")
  })

  it("keeps a __proto__ key as data", () => {
    const decoded = Cbor.decode(fromHex("a1695f5f70726f746f5f5f01")) as Record<string, unknown>
    expect(Object.keys(decoded)).toEqual(["__proto__"])
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype)
    expect(hexOf(Cbor.encode(decoded as Cbor.CborValue))).toBe("a1695f5f70726f746f5f5f01")
  })
})
