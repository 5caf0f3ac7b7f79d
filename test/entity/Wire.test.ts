import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Cbor, EntityError, EntityId, Wire } from "../../src/runtime/entity/index.js"

const bytes = fc.uint8Array({ maxLength: 8 })
const optBytes = fc.option(bytes, { nil: undefined })
const text = fc.string({ maxLength: 10 })
const uint = fc.nat()

const requestArb: fc.Arbitrary<Wire.Request> = fc.oneof(
  fc
    .record({
      kind: text,
      operation: text,
      entityId: bytes,
      payload: fc.jsonValue(),
      session: uint,
      seq: uint,
    })
    .chain((r) =>
      fc.integer({ min: 0, max: r.seq }).map(
        (ackedBelow): Wire.Request => ({
          type: "command",
          ...r,
          payload: r.payload as Cbor.CborValue,
          seq: r.session === 0 ? r.seq : Math.max(1, r.seq),
          ackedBelow,
        }),
      ),
    ),
  fc
    .record({ kind: text, operation: text, entityId: bytes, payload: fc.jsonValue() })
    .map((r): Wire.Request => ({ type: "query", ...r, payload: r.payload as Cbor.CborValue })),
  text.map((kind): Wire.Request => ({ type: "openSession", kind })),
  text.map((kind): Wire.Request => ({ type: "count", kind })),
  fc.record({ kind: text, session: uint }).map((r): Wire.Request => ({ type: "closeSession", ...r })),
  fc
    .record({
      kind: text,
      start: optBytes,
      end: optBytes,
      prefix: optBytes,
      after: optBytes,
      limit: uint,
      values: fc.boolean(),
    })
    .map(({ kind, ...range }): Wire.Request => ({ type: "scan", kind, range })),
)

const decodeLeft = (b: Uint8Array) => {
  const r = Wire.decodeRequest(b)
  if (Either.isRight(r)) throw new Error("decoded")
  return r.left
}

const withHeader = (type: number, body: Cbor.CborValue, flags = 0) => {
  const encoded = Cbor.encode(body)
  const out = new Uint8Array(Wire.HEADER_BYTES + encoded.length)
  out.set([Wire.VERSION, type, flags])
  out.set(encoded, Wire.HEADER_BYTES)
  return out
}

describe("Wire", () => {
  it("round-trips every request type", () => {
    fc.assert(
      fc.property(requestArb, fc.boolean(), (request, staleRead) => {
        const encoded = Wire.encodeRequest(request, { staleRead })
        const decoded = Either.getOrThrow(Wire.decodeRequest(encoded))
        expect(decoded.request).toStrictEqual(request)
        expect(decoded.header).toEqual({ version: 1, type: encoded[1], flags: staleRead ? 1 : 0, time: 0 })
        expect(Wire.isWriteType(decoded.header.type)).toBe(
          request.type === "command" || request.type === "openSession" || request.type === "closeSession",
        )
      }),
      { numRuns: 300 },
    )
  })

  it("tells routers where a request goes", () => {
    const id = Uint8Array.of(1, 2, 3)
    const command = Wire.encodeRequest({
      type: "command",
      kind: "kv",
      operation: "Put",
      entityId: id,
      payload: {},
      session: 0,
      seq: 0,
      ackedBelow: 0,
    })
    expect(Wire.routeOf(command)).toEqual(
      Either.right({ kind: "kv", type: "command", write: true, staleRead: false, slot: EntityId.slotOf(id) }),
    )
    const stale = Wire.encodeRequest(
      { type: "query", kind: "kv", operation: "Get", entityId: id, payload: {} },
      { staleRead: true },
    )
    expect(Wire.routeOf(stale)).toEqual(
      Either.right({ kind: "kv", type: "query", write: false, staleRead: true, slot: EntityId.slotOf(id) }),
    )
    expect(Wire.routeOf(Wire.encodeRequest({ type: "openSession", kind: "kv" }))).toEqual(
      Either.right({ kind: "kv", type: "openSession", write: true, staleRead: false, slot: undefined }),
    )
    expect(Either.isLeft(Wire.routeOf(Uint8Array.of(0)))).toBe(true)
  })

  it("lets the proposer stamp the time without decoding", () => {
    const request = Wire.encodeRequest({ type: "openSession", kind: "k" })
    for (const t of [0, 1, 0xffffffff, 0x1_0000_0000, Number.MAX_SAFE_INTEGER, 1_700_000_000_123]) {
      const stamped = Wire.stampTime(request, t)
      expect(Wire.readHeader(stamped)?.time).toBe(t)
      expect(stamped.subarray(Wire.HEADER_BYTES)).toEqual(request.subarray(Wire.HEADER_BYTES))
    }
    expect(Wire.readHeader(request)?.time).toBe(0)
    expect(() => Wire.stampTime(request, -1)).toThrow(RangeError)
    expect(() => Wire.stampTime(request, 1.5)).toThrow(RangeError)
  })

  it("maps malformed requests to deterministic errors", () => {
    expect(decodeLeft(new Uint8Array(3))).toBeInstanceOf(EntityError.MalformedRequest)
    const header = new Uint8Array(Wire.HEADER_BYTES)
    header.set([2, 1, 0])
    expect(decodeLeft(header)).toEqual(new EntityError.UnsupportedVersion({ version: 2, supported: 1 }))
    const big = new Uint8Array(Wire.HEADER_BYTES)
    big.set([1, 3, 0, 0xff])
    expect(decodeLeft(big)).toBeInstanceOf(EntityError.MalformedRequest)
    expect(decodeLeft(withHeader(3, ["k"], 2))).toMatchObject({ reason: "unknown flag bits 0x2" })
    expect(decodeLeft(withHeader(9, ["k"]))).toMatchObject({ reason: "unknown request type 9" })
    expect(decodeLeft(withHeader(3, "k"))).toMatchObject({ reason: "the request body is not a CBOR array" })
    expect(decodeLeft(withHeader(3, [1]))).toMatchObject({ reason: "body[0] (kind) is not a text string" })
    expect(decodeLeft(withHeader(3, ["k", 1]))).toMatchObject({
      reason: "a request of type 3 has 1 fields, got 2",
    })
    expect(decodeLeft(withHeader(1, ["k", "op", new Uint8Array(1), null, 1, 0, 0]))).toMatchObject({
      reason: "seq must be >= 1 in a session",
    })
    expect(decodeLeft(withHeader(1, ["k", "op", new Uint8Array(1), null, 1, 2, 3]))).toMatchObject({
      reason: "ackedBelow 3 is above seq 2",
    })
    expect(decodeLeft(withHeader(1, ["k", "op", "id", null, 0, 0, 0]))).toMatchObject({
      reason: "body[2] (entity id) is not a byte string",
    })
    expect(decodeLeft(withHeader(5, ["k", null, null, null, null, -1, true]))).toMatchObject({
      reason: "scan limit is not a non-negative integer",
    })
    const oversized = new Uint8Array(Wire.MAX_REQUEST_BYTES + 1)
    expect(decodeLeft(oversized)).toEqual(
      new EntityError.RequestTooLarge({ size: Wire.MAX_REQUEST_BYTES + 1, limit: Wire.MAX_REQUEST_BYTES }),
    )
    expect(decodeLeft(Uint8Array.of(1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x1c)).toString()).toMatch(/bad CBOR/)
  })

  it("never throws on arbitrary bytes, with or without a valid header", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 48 }), fc.boolean(), (body, header) => {
        const b = header ? Uint8Array.from([1, (body[0] ?? 0) % 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...body]) : body
        const r = Wire.decodeRequest(b)
        if (Either.isLeft(r))
          expect(
            Either.isRight(Wire.decodeEntityErrorBody(Cbor.decode(Wire.errorReply(r.left).subarray(2)))),
          ).toBe(true)
      }),
      { numRuns: 2000 },
    )
  })

  it("frames replies and decodes system errors back into their classes", () => {
    expect(Wire.decodeReply(Wire.successReply(5))).toEqual(Either.right({ status: 0, body: 5 }))
    expect(Wire.decodeReply(Wire.failureReply({ _tag: "X" }))).toEqual(
      Either.right({ status: 1, body: { _tag: "X" } }),
    )
    const error = new EntityError.StaleSequence({ session: 3, seq: 1, floor: 2 })
    const envelope = Either.getOrThrow(Wire.decodeReply(Wire.errorReply(error)))
    expect(envelope.status).toBe(Wire.ReplyStatus.SystemError)
    const back = Either.getOrThrow(Wire.decodeEntityErrorBody(envelope.body))
    expect(back).toBeInstanceOf(EntityError.StaleSequence)
    expect(back).toEqual(error)
    expect(Wire.decodeReply(Uint8Array.of(1))).toEqual(Either.left("a reply of 1 byte(s) is too short"))
    expect(Wire.decodeReply(Uint8Array.of(9, 0, 0))).toEqual(Either.left("reply version 9 is not 1"))
    expect(Wire.decodeReply(Uint8Array.of(1, 7, 0))).toEqual(Either.left("unknown reply status 7"))
    expect(Either.isLeft(Wire.decodeReply(Uint8Array.of(1, 0, 0x1c)))).toBe(true)
    expect(Either.isLeft(Wire.decodeEntityErrorBody({ _tag: "Nope" }))).toBe(true)
  })
})
