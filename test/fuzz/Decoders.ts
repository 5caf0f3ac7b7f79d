/**
 * Every decoder that takes bytes from outside a node, for the in-suite properties
 * (Decoders.test.ts) and `npm run fuzz` (fuzz.ts): how to generate valid encodings (seeded,
 * so a run replays) and how to decode, and which exceptions are the decoder's own typed
 * failures. Anything else a decoder throws is a bug: "threw past its decoder".
 */
import { Arbitrary, Either, FastCheck, Schema } from "effect"
import fc from "fast-check"
import { decodeCommand } from "../../src/meta/MetaCommand.js"
import {
  decodeRequest as decodeMetaProtocolRequest,
  encodeRequest,
  MetaRequest,
} from "../../src/meta/MetaProtocol.js"
import * as Gateway from "../../src/node/GatewayProtocol.js"
import { decodeMetaRequest } from "../../src/node/MetaEndpoint.js"
import { AdminRequest, decodeAdminRequest } from "../../src/node/NodeAdmin.js"
import { Cbor, Wire } from "../../src/runtime/entity/index.js"
import { decodeBatch, decodeBatchReply, encodeBatch } from "../../src/runtime/RequestBatch.js"
import { decodeFrame, encodeFrame, encodeFrames } from "../../src/transport/Frame.js"
import { framed } from "../transport/arbitraries.js"

/** One decoder under fuzzing. */
export interface FuzzDecoder {
  readonly name: string
  /** `n` valid encodings, the same for the same seed. */
  readonly valid: (seed: number, n: number) => Uint8Array[]
  /** Decodes; may throw only what `isTyped` accepts. Returns whether the input was accepted. */
  readonly decode: (bytes: Uint8Array) => boolean
  /** The decoder's own typed failure (e.g. `CborError`), which it may throw by contract. */
  readonly isTyped: (e: unknown) => boolean
}

const encoder = new TextEncoder()
const never = () => false
const json = (v: unknown) => encoder.encode(JSON.stringify(v))

const cborValue: fc.Arbitrary<Cbor.CborValue> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true }),
    fc.string({ unit: "grapheme", maxLength: 12 }),
    fc.uint8Array({ maxLength: 16 }),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 6 }), tie("value"), { maxKeys: 4 }),
  ),
})).value as fc.Arbitrary<Cbor.CborValue>

const bytes8 = fc.uint8Array({ maxLength: 12 })
const text = fc.string({ maxLength: 10 })
const wireRequest: fc.Arbitrary<Wire.Request> = fc.oneof(
  fc
    .record({
      kind: text,
      operation: text,
      entityId: bytes8,
      payload: cborValue,
      session: fc.nat(),
      seq: fc.nat(),
    })
    .map(
      (r): Wire.Request => ({
        type: "command",
        ...r,
        seq: r.session === 0 ? r.seq : Math.max(1, r.seq),
        ackedBelow: 0,
      }),
    ),
  fc
    .record({ kind: text, operation: text, entityId: bytes8, payload: cborValue })
    .map((r): Wire.Request => ({ type: "query", ...r })),
  text.map((kind): Wire.Request => ({ type: "openSession", kind })),
  text.map((kind): Wire.Request => ({ type: "count", kind })),
  fc.record({ kind: text, session: fc.nat() }).map((r): Wire.Request => ({ type: "closeSession", ...r })),
  fc
    .record({
      kind: text,
      prefix: fc.option(bytes8, { nil: undefined }),
      limit: fc.nat(),
      values: fc.boolean(),
    })
    .map(({ kind, ...range }): Wire.Request => ({ type: "scan", kind, range })),
)

const keyText = fc.oneof(
  fc.string({ minLength: 1, maxLength: 12 }),
  fc.string({ unit: "grapheme", minLength: 1 }),
)
const gatewayRequest: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({ op: fc.constant("get"), key: keyText, stale: fc.boolean() }),
  fc.record({ op: fc.constant("put"), key: keyText, value: fc.string({ maxLength: 40 }) }),
  fc.record({ op: fc.constant("delete"), key: keyText }),
  fc.record({
    op: fc.constant("cas"),
    key: keyText,
    expected: fc.option(fc.string(), { nil: null }),
    value: fc.option(fc.string(), { nil: null }),
  }),
  fc.record({ op: fc.constant("scan"), prefix: keyText, limit: fc.integer({ min: 1, max: 1000 }) }),
  fc.record({
    op: fc.constant("get"),
    key: fc.base64String({ minLength: 4 }),
    encoding: fc.constant("base64"),
  }),
)

const sample = <A>(arb: fc.Arbitrary<A>, seed: number, n: number, to: (a: A) => Uint8Array) =>
  fc.sample(arb, { seed, numRuns: n }).map(to)

/** Schema-derived samples use effect's own fast-check instance. */
const schemaSample = <A, I>(schema: Schema.Schema<A, I>, seed: number, n: number, to: (a: A) => Uint8Array) =>
  FastCheck.sample(Arbitrary.make(schema), { seed, numRuns: n }).map(to)

export const DECODERS: ReadonlyArray<FuzzDecoder> = [
  {
    name: "raft-frame",
    valid: (seed, n) => sample(framed(), seed, n, (f) => encodeFrame({ clusterId: 7, ...f }, f.envelopes)),
    decode: (b) => {
      const r = decodeFrame(b, undefined, 1 << 20)
      if (Either.isLeft(r)) return false
      // Whatever is accepted re-encodes, and so does what the core derives (term + 1).
      const f = r.right
      const bumped = f.envelopes.map((e) => ({ ...e, message: { ...e.message, term: e.message.term + 1 } }))
      if (encodeFrames(f, bumped, 1 << 24).invalid.length > 0)
        throw new Error("a decoded message cannot be re-encoded")
      return true
    },
    isTyped: never,
  },
  {
    name: "entity-wire",
    valid: (seed, n) => sample(wireRequest, seed, n, (r) => Wire.encodeRequest(r)),
    decode: (b) => {
      Wire.readHeader(b)
      Wire.routeOf(b)
      Wire.decodeReply(b)
      return Either.isRight(Wire.decodeRequest(b))
    },
    isTyped: never,
  },
  {
    name: "entity-cbor",
    valid: (seed, n) => sample(cborValue, seed, n, Cbor.encode),
    decode: (b) => {
      Cbor.decode(b)
      return true
    },
    isTyped: (e) => e instanceof Cbor.CborError,
  },
  {
    name: "request-batch",
    valid: (seed, n) =>
      sample(
        fc.array(fc.uint8Array({ maxLength: 24 }), { minLength: 1, maxLength: 8 }),
        seed,
        n,
        encodeBatch,
      ),
    decode: (b) => {
      decodeBatchReply(b)
      return typeof decodeBatch(b) !== "string"
    },
    isTyped: never,
  },
  {
    name: "gateway-json",
    valid: (seed, n) => sample(gatewayRequest, seed, n, json),
    decode: (b) => Either.isRight(Gateway.decodeRequest(b)),
    isTyped: never,
  },
  {
    name: "meta-json",
    valid: (seed, n) => schemaSample(MetaRequest, seed, n, encodeRequest),
    decode: (b) => {
      decodeMetaProtocolRequest(b)
      decodeCommand(b)
      return Either.isRight(decodeMetaRequest(b))
    },
    isTyped: never,
  },
  {
    name: "admin-json",
    valid: (seed, n) => schemaSample(AdminRequest, seed, n, (r) => json(Schema.encodeSync(AdminRequest)(r))),
    decode: (b) => Either.isRight(decodeAdminRequest(b)),
    isTyped: never,
  },
]

/** The outcome of one input: accepted, refused (a typed failure), or a throw past the decoder. */
export type Outcome = "accepted" | "refused" | { readonly threw: unknown }

/** Runs one input through `decoder`, classifying what happened. Never throws. */
export const tryDecode = (decoder: FuzzDecoder, bytes: Uint8Array): Outcome => {
  try {
    return decoder.decode(bytes) ? "accepted" : "refused"
  } catch (e) {
    return decoder.isTyped(e) ? "refused" : { threw: e }
  }
}
