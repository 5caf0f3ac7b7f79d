/**
 * The revisioned operations of the KV gateway (docs/protocol.md, "Revisions, transactions,
 * leases and watch"): `read`, `txn`, `lease.grant`, `lease.keepalive`, `lease.revoke` and
 * `events` (watch by polling, with an optional wait). Same conventions as the basic ops: keys
 * and values UTF-8 unless `"encoding":"base64"`, unknown fields refused, errors as
 * `{ok:false, error, message}`. `route` answers `undefined` for any other op (the basic gateway's).
 */
import { Clock, Duration, Effect, Either, Option, Schema } from "effect"
import type { KeyValue } from "../../shards/kv/KvRev.js"
import type * as KvRevClient from "../client/KvRevClient.js"
import * as KvWatch from "../client/KvWatch.js"
import * as Gateway from "./GatewayProtocol.js"
import { clipMessage } from "./JsonGuard.js"

type Reply = Record<string, unknown>

const Enc = Schema.optional(Gateway.Encoding)
const TimeoutMs = Schema.optional(Schema.Int.pipe(Schema.between(1, Gateway.MAX_TIMEOUT_MS)))
const Result = Schema.Literal("=", "!=", "<", ">")
const Op = Schema.Union(
  Schema.Struct({
    op: Schema.Literal("put"),
    key: Schema.String,
    value: Schema.String,
    lease: Schema.optional(Schema.Int),
    ttlMs: Schema.optional(Schema.Int),
  }),
  Schema.Struct({ op: Schema.Literal("delete"), key: Schema.String }),
  Schema.Struct({ op: Schema.Literal("get"), key: Schema.String }),
)
const Compare = Schema.Union(
  Schema.Struct({
    key: Schema.String,
    target: Schema.Literal("value"),
    result: Result,
    value: Schema.NullOr(Schema.String),
  }),
  Schema.Struct({
    key: Schema.String,
    target: Schema.Literal("modRevision", "createRevision", "version", "lease"),
    result: Result,
    number: Schema.Int,
  }),
)
const Lease = { lease: Schema.Int, routeKey: Schema.String }

/** Longest `waitMs` of an `events` request. */
export const MAX_WAIT_MS = 30_000

const REQUESTS = {
  read: Schema.Struct({
    op: Schema.Literal("read"),
    key: Schema.String,
    revision: Schema.optional(Schema.Int),
    encoding: Enc,
    timeoutMs: TimeoutMs,
  }),
  txn: Schema.Struct({
    op: Schema.Literal("txn"),
    compare: Schema.optional(Schema.Array(Compare)),
    success: Schema.optional(Schema.Array(Op)),
    failure: Schema.optional(Schema.Array(Op)),
    encoding: Enc,
    timeoutMs: TimeoutMs,
  }),
  "lease.grant": Schema.Struct({
    op: Schema.Literal("lease.grant"),
    routeKey: Schema.String,
    ttlMs: Schema.Int,
    encoding: Enc,
    timeoutMs: TimeoutMs,
  }),
  "lease.keepalive": Schema.Struct({
    op: Schema.Literal("lease.keepalive"),
    ...Lease,
    encoding: Enc,
    timeoutMs: TimeoutMs,
  }),
  "lease.revoke": Schema.Struct({
    op: Schema.Literal("lease.revoke"),
    ...Lease,
    encoding: Enc,
    timeoutMs: TimeoutMs,
  }),
  events: Schema.Struct({
    op: Schema.Literal("events"),
    prefix: Schema.String,
    exact: Schema.optional(Schema.Boolean),
    /** Per shard group (as a string key), the first revision wanted; absent: from now. */
    from: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Int })),
    waitMs: Schema.optional(Schema.Int.pipe(Schema.between(0, MAX_WAIT_MS))),
    limit: Schema.optional(Schema.Int.pipe(Schema.between(1, 1000))),
    encoding: Enc,
    timeoutMs: TimeoutMs,
  }),
} as const

type RevRequest = Schema.Schema.Type<(typeof REQUESTS)[keyof typeof REQUESTS]>

/** The revisioned ops. */
export const OPS = Object.keys(REQUESTS)

const encoder = new TextEncoder()

class Bad {
  constructor(readonly message: string) {}
}

const bytes = (field: string, text: string, enc: Gateway.Encoding): Uint8Array => {
  if (enc === "utf8") return encoder.encode(text)
  const b = Gateway.fromBase64(text)
  if (b === undefined) throw new Bad(`"${field}" is not valid base64 (standard alphabet, padded)`)
  return b
}

/** The request if `data` is a revisioned op (else undefined: not ours), or why it is bad. */
const parse = (guarded: Either.Either<unknown, unknown>): Either.Either<RevRequest, Bad> | undefined => {
  // A request the guard refused (JsonGuard.ts) is left to `KvGateway.handle`, which answers it
  // `BadRequest` with the reason.
  if (Either.isLeft(guarded)) return undefined
  const json = guarded.right
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined
  const op = (json as { op?: unknown }).op
  if (typeof op !== "string" || !Object.hasOwn(REQUESTS, op)) return undefined
  const schema = REQUESTS[op as keyof typeof REQUESTS]
  const allowed = Object.keys(schema.fields)
  for (const field of Object.keys(json))
    if (!allowed.includes(field))
      return Either.left(
        new Bad(clipMessage(`unknown field "${field}" for op "${op}" (allowed: ${allowed.join(", ")})`)),
      )
  const decoded = Schema.decodeUnknownEither(schema as unknown as Schema.Schema<RevRequest>)(json)
  return Either.mapLeft(
    decoded,
    (e) => new Bad(clipMessage(e.message.split("\n").slice(-1)[0] ?? "malformed request")),
  )
}

const kvJson = (kv: KeyValue | null, enc: Gateway.Encoding) =>
  kv === null
    ? null
    : {
        key: Gateway.textOf(kv.key, enc) ?? Gateway.toBase64(kv.key),
        value: Gateway.textOf(kv.value, enc) ?? null,
        createRevision: kv.createRevision,
        modRevision: kv.modRevision,
        version: kv.version,
        lease: kv.lease,
      }

const txnOf = (r: Extract<RevRequest, { op: "txn" }>, enc: Gateway.Encoding): KvRevClient.Txn => {
  const op = (o: (typeof r.success & {})[number]): KvRevClient.TxnOperation =>
    o.op === "put"
      ? {
          op: "put",
          key: bytes("key", o.key, enc),
          value: bytes("value", o.value, enc),
          ...(o.lease === undefined ? {} : { lease: o.lease }),
          ...(o.ttlMs === undefined ? {} : { ttlMs: o.ttlMs }),
        }
      : { op: o.op, key: bytes("key", o.key, enc) }
  return {
    compare: (r.compare ?? []).map((c) =>
      c.target === "value"
        ? {
            ...c,
            key: bytes("key", c.key, enc),
            value: c.value === null ? null : bytes("value", c.value, enc),
          }
        : { ...c, key: bytes("key", c.key, enc) },
    ),
    success: (r.success ?? []).map(op),
    failure: (r.failure ?? []).map(op),
  }
}

/**
 * A transaction written as the gateway's `txn` op (without `op`; UTF-8 keys and values), for
 * tools such as the CLI; a readable refusal when it is not one.
 */
export const decodeTxn = (text: string): Either.Either<KvRevClient.Txn, string> => {
  const json = jsonObject(text)
  if (json === undefined) return Either.left("not a JSON object")
  const parsed = parse(Gateway.parseRequest(encoder.encode(JSON.stringify({ ...json, op: "txn" }))))
  if (parsed === undefined) return Either.left("not a JSON object")
  if (Either.isLeft(parsed)) return Either.left(parsed.left.message)
  return Either.right(txnOf(parsed.right as Extract<RevRequest, { op: "txn" }>, "utf8"))
}

const jsonObject = (text: string): object | undefined => {
  try {
    const v: unknown = JSON.parse(text)
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : undefined
  } catch {
    return undefined
  }
}

const run = (
  rev: KvRevClient.KvRevClientService,
  r: RevRequest,
): Effect.Effect<Reply, { readonly _tag: string; readonly message: string }> => {
  const enc = r.encoding ?? "utf8"
  const deadline = r.timeoutMs ?? Gateway.DEFAULT_TIMEOUT_MS
  const lease = (l: { lease: number; routeKey: string }) => ({
    id: l.lease,
    ttlMs: 1,
    routeKey: bytes("routeKey", l.routeKey, enc),
  })
  switch (r.op) {
    case "read":
      return Effect.map(
        rev.read(bytes("key", r.key, enc), {
          deadline,
          ...(r.revision === undefined ? {} : { revision: r.revision }),
        }),
        (x): Reply => ({ ok: true, revision: x.revision, kv: kvJson(Option.getOrNull(x.kv), enc) }),
      )
    case "txn":
      return Effect.map(
        rev.txn(txnOf(r, enc), { deadline }),
        (x): Reply => ({
          ok: true,
          succeeded: x.succeeded,
          revision: x.revision,
          results: x.results.map((o) =>
            o.op === "get" ? { op: "get", kv: kvJson(o.kv, enc) } : { ...o, prev: kvJson(o.prev, enc) },
          ),
        }),
      )
    case "lease.grant":
      return Effect.map(
        rev.grant(bytes("routeKey", r.routeKey, enc), r.ttlMs, { deadline }),
        (l): Reply => ({
          ok: true,
          lease: l.id,
          ttlMs: l.ttlMs,
        }),
      )
    case "lease.keepalive":
      return Effect.as(rev.keepAlive(lease(r), { deadline }), { ok: true })
    case "lease.revoke":
      return Effect.map(rev.revoke(lease(r), { deadline }), (x): Reply => ({ ok: true, deleted: x.deleted }))
    case "events":
      return events(rev, r, enc)
  }
}

const events = (
  rev: KvRevClient.KvRevClientService,
  r: Extract<RevRequest, { op: "events" }>,
  enc: Gateway.Encoding,
) =>
  Effect.gen(function* () {
    const position =
      r.from === undefined
        ? undefined
        : new Map(Object.entries(r.from).map(([g, v]) => [Number(g), v] as const))
    const options = { exact: r.exact === true, pageSize: r.limit ?? 500 }
    const prefix = bytes("prefix", r.prefix, enc)
    // Effect's clock, not `Date.now()`: a simulation's virtual time (and its replay) holds here too.
    const waitUntil = (yield* Clock.currentTimeMillis) + (r.waitMs ?? 0)
    let page = yield* KvWatch.pollOnce(rev.router, prefix, position, options)
    // A long poll: while nothing happened and the caller is willing to wait, ask again.
    while (
      position !== undefined &&
      page.events.length === 0 &&
      (yield* Clock.currentTimeMillis) < waitUntil
    ) {
      yield* Effect.sleep(Duration.millis(50))
      page = yield* KvWatch.pollOnce(rev.router, prefix, page.next, options)
    }
    return {
      ok: true,
      events: page.events.map((e) => ({
        group: e.group,
        type: e.type,
        key: Gateway.textOf(e.key, enc) ?? Gateway.toBase64(e.key),
        value: e.value === null ? null : (Gateway.textOf(e.value, enc) ?? null),
        revision: e.revision,
        sub: e.sub,
        createRevision: e.createRevision,
        version: e.version,
        lease: e.lease,
      })),
      next: Object.fromEntries([...page.next].map(([g, v]) => [String(g), v])),
    } as Reply
  })

/** Errors of the revisioned ops, passed on by name with their fields. */
const DECLARED = new Set([
  "Compacted",
  "FutureRevision",
  "CrossSlot",
  "LeaseNotFound",
  "TxnTooLarge",
  "Conflict",
])

/**
 * The reply of a revisioned op, or undefined when the request (as `Gateway.parseRequest` parsed
 * it) is not one (the basic gateway's).
 */
export const route = (
  rev: KvRevClient.KvRevClientService,
  request: Either.Either<unknown, unknown>,
  failure: (e: { readonly _tag: string; readonly message: string }) => Reply,
): Effect.Effect<Reply> | undefined => {
  const parsed = parse(request)
  if (parsed === undefined) return undefined
  if (Either.isLeft(parsed)) return Effect.succeed(Gateway.errorReply("BadRequest", parsed.left.message))
  return Effect.suspend(() => {
    try {
      return run(rev, parsed.right)
    } catch (e) {
      if (e instanceof Bad) return Effect.succeed(Gateway.errorReply("BadRequest", e.message))
      throw e
    }
  }).pipe(
    Effect.catchAll((e) =>
      Effect.succeed(
        DECLARED.has(e._tag)
          ? { ...e, ok: false, error: e._tag, message: e.message, _tag: undefined }
          : failure(e),
      ),
    ),
    Effect.catchAllDefect((d) =>
      Effect.succeed(Gateway.errorReply("Internal", `the gateway failed: ${String(d)}`)),
    ),
  )
}
