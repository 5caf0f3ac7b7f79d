/**
 * The JSON protocol of the KV gateway on `<prefix>.<c>.kv` (docs/protocol.md is the reference
 * for implementers): the request schemas, their validation with readable refusals, and the
 * reply shapes. Pure: no I/O.
 *
 * Requests are JSON objects with an `op` (`get`, `put`, `delete`, `cas`, `scan`). Keys, values
 * and scan bounds are UTF-8 text unless `"encoding": "base64"`, which applies to all of them
 * and to the reply's keys and values. Scan continuations are always base64 (opaque tokens).
 * Unknown fields are refused (a misspelt `"vaule"` must not store an empty value).
 */
import { Either, ParseResult, Schema } from "effect"
import { MAX_VALUE_BYTES } from "../../shards/kv/Kv.js"
import { invalidReason, MAX_ENTITY_ID_BYTES } from "../runtime/entity/EntityId.js"
import { clipMessage, type JsonLimits, type JsonRefusal, parseGuardedJson, quoteInput } from "./JsonGuard.js"

/** How keys and values are written in JSON. */
export const Encoding = Schema.Literal("utf8", "base64")
export type Encoding = typeof Encoding.Type

/** Default and largest `timeoutMs`. */
export const DEFAULT_TIMEOUT_MS = 4000
export const MAX_TIMEOUT_MS = 60_000
/**
 * Limits checked before a request is parsed: its size (a value of `MAX_VALUE_BYTES` in base64
 * plus room for the rest) and its nesting (requests are flat objects).
 */
export const REQUEST_LIMITS: JsonLimits = {
  maxBytes: Math.ceil((MAX_VALUE_BYTES * 4) / 3) * 2 + 4096,
  maxDepth: 4,
}

/** Default and largest scan `limit` through the gateway. */
export const DEFAULT_SCAN_LIMIT = 100
export const MAX_SCAN_LIMIT = 1000

const TimeoutMs = Schema.Int.pipe(Schema.between(1, MAX_TIMEOUT_MS))
const common = { encoding: Schema.optional(Encoding), timeoutMs: Schema.optional(TimeoutMs) }

const GetRequest = Schema.Struct({
  op: Schema.Literal("get"),
  key: Schema.String,
  stale: Schema.optional(Schema.Boolean),
  ...common,
})
const PutRequest = Schema.Struct({
  op: Schema.Literal("put"),
  key: Schema.String,
  value: Schema.String,
  ...common,
})
const DeleteRequest = Schema.Struct({ op: Schema.Literal("delete"), key: Schema.String, ...common })
const CasRequest = Schema.Struct({
  op: Schema.Literal("cas"),
  key: Schema.String,
  expected: Schema.NullOr(Schema.String),
  value: Schema.NullOr(Schema.String),
  ...common,
})
const ScanRequest = Schema.Struct({
  op: Schema.Literal("scan"),
  prefix: Schema.optional(Schema.String),
  start: Schema.optional(Schema.String),
  end: Schema.optional(Schema.String),
  after: Schema.optional(Schema.String),
  limit: Schema.optional(Schema.Int.pipe(Schema.between(1, MAX_SCAN_LIMIT))),
  stale: Schema.optional(Schema.Boolean),
  ...common,
})

const BY_OP = {
  get: GetRequest,
  put: PutRequest,
  delete: DeleteRequest,
  cas: CasRequest,
  scan: ScanRequest,
} as const

/** The operations, in documentation order. */
export const OPS = Object.keys(BY_OP) as ReadonlyArray<keyof typeof BY_OP>

/** A validated request, with keys and values as bytes. */
export type Request =
  | { readonly op: "get"; readonly key: Uint8Array; readonly stale: boolean; readonly common: Common }
  | { readonly op: "put"; readonly key: Uint8Array; readonly value: Uint8Array; readonly common: Common }
  | { readonly op: "delete"; readonly key: Uint8Array; readonly common: Common }
  | {
      readonly op: "cas"
      readonly key: Uint8Array
      readonly expected: Uint8Array | null
      readonly value: Uint8Array | null
      readonly common: Common
    }
  | {
      readonly op: "scan"
      readonly prefix: Uint8Array | undefined
      readonly start: Uint8Array | undefined
      readonly end: Uint8Array | undefined
      readonly after: Uint8Array | undefined
      readonly limit: number
      readonly stale: boolean
      readonly common: Common
    }

/** Settings every request has. */
export interface Common {
  readonly encoding: Encoding
  readonly timeoutMs: number
}

/** A refused request: `message` says what is wrong and how to fix it. */
export interface BadRequest {
  readonly message: string
}

const bad = (message: string): Either.Either<never, BadRequest> =>
  Either.left({ message: clipMessage(message) })

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
const encoder = new TextEncoder()
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** The bytes of a base64 string; undefined when it is not canonical standard base64. */
export const fromBase64 = (text: string): Uint8Array | undefined =>
  BASE64.test(text) ? new Uint8Array(Buffer.from(text, "base64")) : undefined

/** Standard base64 with padding. */
export const toBase64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

const bytesOf = (field: string, text: string, encoding: Encoding): Either.Either<Uint8Array, BadRequest> => {
  if (encoding === "utf8") return Either.right(encoder.encode(text))
  const bytes = fromBase64(text)
  return bytes === undefined
    ? bad(`"${field}" is not valid base64 (standard alphabet, padded)`)
    : Either.right(bytes)
}

const keyBytes = (text: string, encoding: Encoding): Either.Either<Uint8Array, BadRequest> =>
  Either.flatMap(bytesOf("key", text, encoding), (key) => {
    const why = invalidReason(key)
    return why === undefined ? Either.right(key) : bad(why.replace("entity id", "key"))
  })

const valueBytes = (field: string, text: string, encoding: Encoding) =>
  Either.flatMap(bytesOf(field, text, encoding), (value) =>
    value.length > MAX_VALUE_BYTES
      ? bad(`"${field}" is ${value.length} bytes, the limit is ${MAX_VALUE_BYTES}`)
      : Either.right(value),
  )

const boundOf = (field: string, text: string | undefined, encoding: Encoding) =>
  text === undefined
    ? Either.right(undefined)
    : Either.flatMap(bytesOf(field, text, encoding), (b) =>
        b.length > MAX_ENTITY_ID_BYTES
          ? bad(`"${field}" is ${b.length} bytes, the limit is ${MAX_ENTITY_ID_BYTES}`)
          : Either.right(b),
      )

const describe = (error: ParseResult.ParseError): string => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  if (issue === undefined) return "malformed request"
  const path = issue.path.map(String).join(".")
  return path === "" ? issue.message : `"${path}": ${issue.message}`
}

/**
 * Decodes and validates a request. NEVER THROWS: anything that is not a valid request gets a
 * `BadRequest` naming the problem, quoting at most ~200 bytes of the input. The size, UTF-8,
 * nesting and lone-surrogate checks come first, before anything is parsed (JsonGuard.ts).
 */
export const decodeRequest = (data: Uint8Array): Either.Either<Request, BadRequest> =>
  decodeParsed(parseRequest(data))

/** The request's JSON, after the guard's checks: each request is parsed once (`decodeParsed`). */
export const parseRequest = (data: Uint8Array): Either.Either<unknown, JsonRefusal> =>
  parseGuardedJson(data, REQUEST_LIMITS)

/** `decodeRequest` of a request already parsed by `parseRequest`. */
export const decodeParsed = (
  parsed: Either.Either<unknown, JsonRefusal>,
): Either.Either<Request, BadRequest> => {
  if (Either.isLeft(parsed)) {
    const r = parsed.left
    return bad(
      r.reason === "not-json"
        ? `the request is not JSON; send an object such as {"op":"get","key":"a"}`
        : r.message,
    )
  }
  const json = parsed.right
  if (typeof json !== "object" || json === null || Array.isArray(json))
    return bad(`the request must be a JSON object such as {"op":"get","key":"a"}`)
  const op = (json as { op?: unknown }).op
  if (op === undefined) return bad(`missing "op": one of ${OPS.join(", ")}`)
  if (typeof op !== "string" || !Object.hasOwn(BY_OP, op))
    return bad(`unknown op ${quoteInput(op)}: expected one of ${OPS.join(", ")}`)
  const schema = BY_OP[op as keyof typeof BY_OP]
  const allowed = Object.keys(schema.fields)
  for (const field of Object.keys(json))
    if (!allowed.includes(field))
      return bad(`unknown field ${quoteInput(field)} for op "${op}" (allowed: ${allowed.join(", ")})`)
  const decoded = Schema.decodeUnknownEither(schema as Schema.Schema<unknown>)(json)
  if (Either.isLeft(decoded)) return bad(describe(decoded.left))
  const r = decoded.right as Schema.Schema.Type<(typeof BY_OP)[keyof typeof BY_OP]>
  const common: Common = {
    encoding: r.encoding ?? "utf8",
    timeoutMs: r.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  }
  const enc = common.encoding
  switch (r.op) {
    case "get":
      return Either.map(keyBytes(r.key, enc), (key) => ({ op: "get", key, stale: r.stale === true, common }))
    case "put":
      return Either.flatMap(keyBytes(r.key, enc), (key) =>
        Either.map(valueBytes("value", r.value, enc), (value) => ({ op: "put", key, value, common })),
      )
    case "delete":
      return Either.map(keyBytes(r.key, enc), (key) => ({ op: "delete", key, common }))
    case "cas":
      return Either.gen(function* () {
        const key = yield* keyBytes(r.key, enc)
        const expected = r.expected === null ? null : yield* valueBytes("expected", r.expected, enc)
        const value = r.value === null ? null : yield* valueBytes("value", r.value, enc)
        return { op: "cas" as const, key, expected, value, common }
      })
    case "scan":
      return Either.gen(function* () {
        const prefix = yield* boundOf("prefix", r.prefix, enc)
        const start = yield* boundOf("start", r.start, enc)
        const end = yield* boundOf("end", r.end, enc)
        const after =
          r.after === undefined
            ? undefined
            : yield* Either.flatMap(bytesOf("after", r.after, "base64"), (b) =>
                b.length === 0 || b.length > MAX_ENTITY_ID_BYTES
                  ? bad(`"after" is not a continuation token`)
                  : Either.right(b),
              )
        return {
          op: "scan" as const,
          prefix,
          start,
          end,
          after,
          limit: r.limit ?? DEFAULT_SCAN_LIMIT,
          stale: r.stale === true,
          common,
        }
      })
  }
}

/** The text of bytes in `encoding`; undefined when `utf8` and the bytes are not UTF-8. */
export const textOf = (bytes: Uint8Array, encoding: Encoding): string | undefined => {
  if (encoding === "base64") return toBase64(bytes)
  try {
    return utf8.decode(bytes)
  } catch {
    return undefined
  }
}

/** The error names a gateway reply can carry. */
export type ErrorName =
  | "BadRequest"
  | "Timeout"
  | "Unavailable"
  | "Conflict"
  | "NotUtf8"
  | "Overloaded"
  | "Internal"

/** An error reply. */
export const errorReply = (error: ErrorName, message: string, extra: object = {}) => ({
  ok: false as const,
  error,
  message: clipMessage(message),
  ...extra,
})
