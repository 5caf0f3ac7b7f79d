/**
 * The checks before parsing on every JSON endpoint (JsonGuard.ts) and the decoders of the meta
 * and admin endpoints built on them: deep nesting, lone surrogates, size and quoting limits,
 * and properties that no input makes a decoder throw or answer with more than a short message.
 */
import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Gateway from "../../src/node/GatewayProtocol.js"
import {
  checkJsonBytes,
  MAX_MESSAGE_CHARS,
  MAX_QUOTED_BYTES,
  parseGuardedJson,
  quoteInput,
  scanJsonText,
} from "../../src/node/JsonGuard.js"
import { decodeMetaRequest } from "../../src/node/MetaEndpoint.js"
import { decodeAdminRequest } from "../../src/node/NodeAdmin.js"

const encoder = new TextEncoder()
const limits = { maxBytes: 1 << 20, maxDepth: 8 }
const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`

describe("JSON guard", () => {
  it("measures depth outside strings only", () => {
    expect(scanJsonText(deep(8), 8)).toBeUndefined()
    expect(scanJsonText(deep(9), 8)?.reason).toBe("too-deep")
    expect(scanJsonText(`{"a":"${"[".repeat(100)}"}`, 2)).toBeUndefined()
    expect(scanJsonText(`{"a":"\\"[[[["}`, 1)).toBeUndefined()
    expect(scanJsonText(`{"a":"\\\\"}`, 1)).toBeUndefined()
    expect(scanJsonText(`{"a":[{"b":[{}]}]}`, 5)?.reason).toBeUndefined()
    expect(scanJsonText(`{"a":[{"b":[{}]}]}`, 4)?.reason).toBe("too-deep")
  })

  it("refuses lone surrogate escapes, accepts pairs and raw non-BMP text", () => {
    for (const bad of [`"\\ud800"`, `"\\uDC00"`, `"\\ud800\\u0041"`, `"\\ud800\\ud800"`, `"x\\udbff`])
      expect(scanJsonText(bad, 4)?.reason, bad).toBe("lone-surrogate")
    for (const good of [`"\\ud83d\\ude00"`, `"😀"`, `"\\u00e9"`, `"\\uffff"`, `"\\u12"`])
      expect(scanJsonText(good, 4), good).toBeUndefined()
  })

  it("checks size before anything else, then UTF-8", () => {
    const big = encoder.encode(`"${"x".repeat(100)}"`)
    const tooLarge = checkJsonBytes(big, { maxBytes: 50, maxDepth: 1 })
    expect(Either.isLeft(tooLarge) && tooLarge.left.reason).toBe("too-large")
    const surrogateUtf8 = new Uint8Array([0x22, 0xed, 0xa0, 0x80, 0x22])
    const notUtf8 = checkJsonBytes(surrogateUtf8, limits)
    expect(Either.isLeft(notUtf8) && notUtf8.left.reason).toBe("not-utf8")
  })

  it("quotes at most ~200 bytes of input", () => {
    expect(quoteInput("abc")).toBe('"abc"')
    expect(quoteInput(7)).toBe("7")
    for (const s of ["x".repeat(10_000), "é".repeat(10_000), "😀".repeat(10_000)]) {
      const q = quoteInput(s)
      expect(Buffer.byteLength(q)).toBeLessThan(MAX_QUOTED_BYTES + 40)
      expect(q).toContain("chars)")
    }
  })

  it("never throws and never answers more than a short message, whatever the bytes", () => {
    const inputs = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.jsonValue({ maxDepth: 12 }).map((v) => encoder.encode(JSON.stringify(v))),
      fc
        .string({ unit: "binary", maxLength: 300 })
        .map((s) => encoder.encode(JSON.stringify({ op: "put", key: s, value: s }))),
      fc.nat({ max: 5_000 }).map((n) => encoder.encode(deep(n))),
    )
    fc.assert(
      fc.property(inputs, (bytes) => {
        const g = Gateway.decodeRequest(bytes)
        if (Either.isLeft(g)) expect(g.left.message.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS + 10)
        const a = decodeAdminRequest(bytes)
        if (Either.isLeft(a)) expect(a.left.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS + 10)
        const m = decodeMetaRequest(bytes)
        if (Either.isLeft(m)) expect(m.left.message.length).toBeLessThanOrEqual(600)
        parseGuardedJson(bytes, limits)
      }),
      { numRuns: 500 },
    )
  })
})

describe("meta and admin endpoint decoders (issue 11, findings 5 and 9)", () => {
  it("refuse deep nesting before parsing, with a short message", () => {
    const admin = decodeAdminRequest(encoder.encode(`{"op":"status","after":${deep(3000)}}`))
    expect(Either.isLeft(admin) && admin.left).toContain("deeper than")
    const meta = decodeMetaRequest(encoder.encode(`{"_tag":"Heartbeat","load":${deep(3000)}}`))
    expect(Either.isLeft(meta) && meta.left.message).toContain("deeper than")
  })

  it("refuse lone surrogates", () => {
    const meta = decodeMetaRequest(encoder.encode(`{"_tag":"CreateKeyspace","name":"\\ud800"}`))
    expect(Either.isLeft(meta) && meta.left.message).toContain("surrogate")
    const admin = decodeAdminRequest(encoder.encode(`{"op":"read","group":1,"query":"\\udfff"}`))
    expect(Either.isLeft(admin) && admin.left).toContain("surrogate")
  })

  it("quote little of a huge bad request", () => {
    const admin = decodeAdminRequest(encoder.encode(JSON.stringify({ op: "x".repeat(50_000) })))
    expect(Either.isLeft(admin) && admin.left.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS + 10)
    expect(Either.isRight(decodeAdminRequest(encoder.encode(`{"op":"summary"}`)))).toBe(true)
  })
})
