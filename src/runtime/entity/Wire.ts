/**
 * The byte format of requests to an entity shard and of its replies (docs/entities.md has
 * the full table, for implementers in other languages).
 *
 * Request = an 11-byte header, then one CBOR item (the body):
 *
 *   offset 0  version  u8       `VERSION` (1)
 *   offset 1  type     u8       `RequestType`
 *   offset 2  flags    u8       bit 0 `FLAG_STALE_READ`; other bits MUST be 0
 *   offset 3  time     u64 BE   proposer time in ms since the epoch, 0 = not stamped
 *
 * Reply = version u8, status u8 (`ReplyStatus`), then one CBOR item. Status `RuntimeError`
 * comes from the node runtime (through `EntityShardKind.encodeError`), never from a shard.
 *
 * The time field sits at a fixed offset so that the proposer (the group leader) can stamp a
 * request with `stampTime` without decoding it: THE LEADER STAMPS, CLIENTS SEND 0. It is the
 * only clock a shard ever sees (session expiry, `CommandContext.time`).
 *
 * `decodeRequest` NEVER THROWS: every malformed input maps to a deterministic `EntityError`.
 */
import { Either, Schema } from "effect"
import { type BadRequest, type RuntimeError, RuntimeErrorSchema } from "../RuntimeErrors.js"
import * as Cbor from "./Cbor.js"
import { EntityError, MalformedRequest, RequestTooLarge, UnsupportedVersion } from "./EntityError.js"
import { slotOf } from "./EntityId.js"

/** The wire format version this code speaks. */
export const VERSION = 1
/** Size of the request header. */
export const HEADER_BYTES = 11
/** Largest request accepted: NATS's default 1 MiB payload minus 64 KiB for Raft framing. */
export const MAX_REQUEST_BYTES = 960 * 1024
/** Requests flag: the caller accepts a stale read from any replica (reads only). */
export const FLAG_STALE_READ = 1

/** Request type codes (header byte 1). */
export const RequestType = {
  Command: 1,
  Query: 2,
  OpenSession: 3,
  CloseSession: 4,
  Scan: 5,
  Count: 6,
} as const

/** Reply status codes (reply byte 1). */
export const ReplyStatus = {
  /** The operation's success value, encoded with its success schema. */
  Success: 0,
  /** The operation's declared failure, encoded with its failure schema. */
  Failure: 1,
  /** An `EntityError`. */
  SystemError: 2,
  /** A runtime error (`RuntimeErrorSchema`: not leader, overloaded, ...); nothing ran. */
  RuntimeError: 3,
} as const

/** Exactly-once bookkeeping of a command. `session` 0 means "no session": at-least-once. */
export interface SessionStamp {
  readonly session: number
  /** The command's sequence number in its session, >= 1. */
  readonly seq: number
  /** Every reply with a lower sequence number has been received by the client. */
  readonly ackedBelow: number
}

/** What a scan reads: ids in [start, end) that start with prefix and sort after `after`. */
export interface ScanRange {
  readonly start?: Uint8Array | undefined
  readonly end?: Uint8Array | undefined
  readonly prefix?: Uint8Array | undefined
  /** The continuation token of the previous page. */
  readonly after?: Uint8Array | undefined
  /** At most this many entries (1 .. `MAX_SCAN_LIMIT`). */
  readonly limit: number
  /** Whether entries carry the entity states (else ids only). */
  readonly values: boolean
}

/** Largest scan page, in entries. */
export const MAX_SCAN_LIMIT = 10_000

/** A decoded request body. */
export type Request =
  | ({
      readonly type: "command"
      readonly kind: string
      readonly operation: string
      readonly entityId: Uint8Array
      readonly payload: Cbor.CborValue
    } & SessionStamp)
  | {
      readonly type: "query"
      readonly kind: string
      readonly operation: string
      readonly entityId: Uint8Array
      readonly payload: Cbor.CborValue
    }
  | { readonly type: "openSession"; readonly kind: string }
  | { readonly type: "closeSession"; readonly kind: string; readonly session: number }
  | { readonly type: "scan"; readonly kind: string; readonly range: ScanRange }
  | { readonly type: "count"; readonly kind: string }

/** The header fields. */
export interface Header {
  readonly version: number
  readonly type: number
  readonly flags: number
  readonly time: number
}

const CODES: Record<Request["type"], number> = {
  command: RequestType.Command,
  query: RequestType.Query,
  openSession: RequestType.OpenSession,
  closeSession: RequestType.CloseSession,
  scan: RequestType.Scan,
  count: RequestType.Count,
}

/** Whether requests of this type code change state (must be proposed through the log). */
export const isWriteType = (type: number): boolean =>
  type === RequestType.Command || type === RequestType.OpenSession || type === RequestType.CloseSession

const orNull = (b: Uint8Array | undefined) => b ?? null

const bodyOf = (r: Request): Cbor.CborValue => {
  switch (r.type) {
    case "command":
      return [r.kind, r.operation, r.entityId, r.payload, r.session, r.seq, r.ackedBelow]
    case "query":
      return [r.kind, r.operation, r.entityId, r.payload]
    case "openSession":
    case "count":
      return [r.kind]
    case "closeSession":
      return [r.kind, r.session]
    case "scan": {
      const s = r.range
      return [r.kind, orNull(s.start), orNull(s.end), orNull(s.prefix), orNull(s.after), s.limit, s.values]
    }
  }
}

/**
 * Encodes a request. Throws `Cbor.CborError` if the payload is not encodable; the typed
 * client encodes payloads first (as `Cbor.Raw`) and so never meets that case.
 */
export const encodeRequest = (request: Request, options?: { readonly staleRead?: boolean }): Uint8Array => {
  const body = Cbor.encode(bodyOf(request))
  const out = new Uint8Array(HEADER_BYTES + body.length)
  out[0] = VERSION
  out[1] = CODES[request.type]
  out[2] = options?.staleRead === true ? FLAG_STALE_READ : 0
  out.set(body, HEADER_BYTES)
  return out
}

/** Reads the header; `undefined` when the bytes are too short or the time is out of range. */
export const readHeader = (bytes: Uint8Array): Header | undefined => {
  if (bytes.length < HEADER_BYTES) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES)
  const hi = view.getUint32(3)
  if (hi > 0x1fffff) return undefined
  return {
    version: bytes[0]!,
    type: bytes[1]!,
    flags: bytes[2]!,
    time: hi * 0x1_0000_0000 + view.getUint32(7),
  }
}

/** A copy of `request` with the proposer time set to `timeMs` (a non-negative integer). */
export const stampTime = (request: Uint8Array, timeMs: number): Uint8Array => {
  if (!Number.isSafeInteger(timeMs) || timeMs < 0) throw new RangeError(`bad proposer time ${timeMs}`)
  const out = request.slice()
  if (out.length < HEADER_BYTES) return out
  const view = new DataView(out.buffer, out.byteOffset, HEADER_BYTES)
  view.setUint32(3, Math.floor(timeMs / 0x1_0000_0000))
  view.setUint32(7, timeMs >>> 0)
  return out
}

const isUint = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0
const isText = (v: unknown): v is string => typeof v === "string"
const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array
const optBytes = (v: unknown): v is Uint8Array | null => v === null || v instanceof Uint8Array

const malformed = (reason: string) => Either.left(new MalformedRequest({ reason }))

const parseBody = (type: number, body: Cbor.CborValue): Either.Either<Request, EntityError> => {
  if (!Array.isArray(body)) return malformed("the request body is not a CBOR array")
  const b = body as ReadonlyArray<Cbor.CborValue>
  const [kind] = b
  if (!isText(kind)) return malformed("body[0] (kind) is not a text string")
  const arity = (n: number) =>
    b.length === n ? undefined : `a request of type ${type} has ${n} fields, got ${b.length}`
  switch (type) {
    case RequestType.Command: {
      const bad = arity(7)
      if (bad) return malformed(bad)
      const [, operation, entityId, payload, session, seq, ackedBelow] = b
      if (!isText(operation)) return malformed("body[1] (operation) is not a text string")
      if (!isBytes(entityId)) return malformed("body[2] (entity id) is not a byte string")
      if (!isUint(session) || !isUint(seq) || !isUint(ackedBelow))
        return malformed("session, seq and ackedBelow must be non-negative integers")
      if (session !== 0 && seq === 0) return malformed("seq must be >= 1 in a session")
      if (ackedBelow > seq) return malformed(`ackedBelow ${ackedBelow} is above seq ${seq}`)
      return Either.right({ type: "command", kind, operation, entityId, payload, session, seq, ackedBelow })
    }
    case RequestType.Query: {
      const bad = arity(4)
      if (bad) return malformed(bad)
      const [, operation, entityId, payload] = b
      if (!isText(operation)) return malformed("body[1] (operation) is not a text string")
      if (!isBytes(entityId)) return malformed("body[2] (entity id) is not a byte string")
      return Either.right({ type: "query", kind, operation, entityId, payload })
    }
    case RequestType.OpenSession:
    case RequestType.Count: {
      const bad = arity(1)
      if (bad) return malformed(bad)
      return Either.right({ type: type === RequestType.Count ? "count" : "openSession", kind })
    }
    case RequestType.CloseSession: {
      const bad = arity(2)
      if (bad) return malformed(bad)
      const session = b[1]
      if (!isUint(session)) return malformed("body[1] (session) is not a non-negative integer")
      return Either.right({ type: "closeSession", kind, session })
    }
    case RequestType.Scan: {
      const bad = arity(7)
      if (bad) return malformed(bad)
      const [, start, end, prefix, after, limit, values] = b
      if (!optBytes(start) || !optBytes(end) || !optBytes(prefix) || !optBytes(after))
        return malformed("scan bounds must be byte strings or null")
      if (!isUint(limit)) return malformed("scan limit is not a non-negative integer")
      if (typeof values !== "boolean") return malformed("scan 'values' is not a boolean")
      const range: ScanRange = {
        start: start ?? undefined,
        end: end ?? undefined,
        prefix: prefix ?? undefined,
        after: after ?? undefined,
        limit,
        values,
      }
      return Either.right({ type: "scan", kind, range })
    }
    default:
      return malformed(`unknown request type ${type}`)
  }
}

/** A request decoded with its header. */
export interface Decoded {
  readonly header: Header
  readonly request: Request
}

/** Decodes a request. NEVER THROWS: malformed bytes give `Left(EntityError)`. */
export const decodeRequest = (bytes: Uint8Array): Either.Either<Decoded, EntityError> => {
  if (bytes.length > MAX_REQUEST_BYTES)
    return Either.left(new RequestTooLarge({ size: bytes.length, limit: MAX_REQUEST_BYTES }))
  const header = readHeader(bytes)
  if (header === undefined) return malformed(`not a request: ${bytes.length} byte(s) or a bad time field`)
  if (header.version !== VERSION)
    return Either.left(new UnsupportedVersion({ version: header.version, supported: VERSION }))
  if ((header.flags & ~FLAG_STALE_READ) !== 0)
    return malformed(`unknown flag bits 0x${header.flags.toString(16)}`)
  let body: Cbor.CborValue
  try {
    body = Cbor.decode(bytes.subarray(HEADER_BYTES))
  } catch (e) {
    return malformed(`bad CBOR body: ${e instanceof Cbor.CborError ? e.message : String(e)}`)
  }
  return Either.map(parseBody(header.type, body), (request) => ({ header, request }))
}

/** Where a request goes, for routers that hold raw request bytes (the NATS entry point). */
export interface Route {
  readonly kind: string
  readonly type: Request["type"]
  /** Must be proposed through the log (a command, or a session open/close). */
  readonly write: boolean
  /** A read that accepts a stale answer from any replica. */
  readonly staleRead: boolean
  /** The entity's hash slot; undefined for shard-level requests (sessions, scans, counts). */
  readonly slot: number | undefined
}

/** The route of a request, or the error to answer it with. Never throws. */
export const routeOf = (bytes: Uint8Array): Either.Either<Route, EntityError> =>
  Either.map(decodeRequest(bytes), ({ header, request }) => ({
    kind: request.kind,
    type: request.type,
    write: isWriteType(header.type),
    staleRead: (header.flags & FLAG_STALE_READ) !== 0,
    slot: request.type === "command" || request.type === "query" ? slotOf(request.entityId) : undefined,
  }))

const reply = (status: number, body: Cbor.CborValue): Uint8Array => {
  const encoded = Cbor.encode(body)
  const out = new Uint8Array(2 + encoded.length)
  out[0] = VERSION
  out[1] = status
  out.set(encoded, 2)
  return out
}

/** A success reply around an already encoded (Schema-encoded, CBOR-ready) value. */
export const successReply = (body: Cbor.CborValue): Uint8Array => reply(ReplyStatus.Success, body)

/** A failure reply around an already encoded (Schema-encoded, CBOR-ready) failure. */
export const failureReply = (body: Cbor.CborValue): Uint8Array => reply(ReplyStatus.Failure, body)

const encodeEntityError = Schema.encodeSync(EntityError)

/** A system-error reply. */
export const errorReply = (error: EntityError): Uint8Array =>
  reply(ReplyStatus.SystemError, encodeEntityError(error) as Cbor.CborValue)

/** A decoded reply envelope: status and CBOR body (not yet decoded with any schema). */
export interface ReplyEnvelope {
  readonly status: number
  readonly body: Cbor.CborValue
}

/** Decodes a reply envelope; `Left(reason)` for bytes that are not a reply of this version. */
export const decodeReply = (bytes: Uint8Array): Either.Either<ReplyEnvelope, string> => {
  if (bytes.length < 3) return Either.left(`a reply of ${bytes.length} byte(s) is too short`)
  if (bytes[0] !== VERSION) return Either.left(`reply version ${bytes[0]} is not ${VERSION}`)
  const status = bytes[1]!
  if (status > ReplyStatus.RuntimeError) return Either.left(`unknown reply status ${status}`)
  try {
    return Either.right({ status, body: Cbor.decode(bytes.subarray(2)) })
  } catch (e) {
    return Either.left(`bad CBOR in reply: ${e instanceof Cbor.CborError ? e.message : String(e)}`)
  }
}

const encodeRuntimeError = Schema.encodeSync(RuntimeErrorSchema)

/** A runtime-error reply (written by the node runtime, not by shards). */
export const runtimeErrorReply = (error: RuntimeError | BadRequest): Uint8Array =>
  reply(ReplyStatus.RuntimeError, encodeRuntimeError(error) as Cbor.CborValue)

const decodeRuntimeError = Schema.decodeUnknownEither(RuntimeErrorSchema)

/** Decodes the body of a `RuntimeError` reply; `Left(reason)` when it is not one. */
export const decodeRuntimeErrorBody = (
  body: Cbor.CborValue,
): Either.Either<RuntimeError | BadRequest, string> =>
  Either.mapLeft(decodeRuntimeError(body), (e) => `bad runtime error in reply: ${e.message}`)

const decodeEntityError = Schema.decodeUnknownEither(EntityError)

/** Decodes the body of a `SystemError` reply; `Left(reason)` when it is not an `EntityError`. */
export const decodeEntityErrorBody = (body: Cbor.CborValue): Either.Either<EntityError, string> =>
  Either.mapLeft(decodeEntityError(body), (e) => `bad system error in reply: ${e.message}`)
