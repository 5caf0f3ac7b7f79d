/**
 * The typed Effect client of the KV store:
 *
 *   const kv = yield* KvClient
 *   yield* kv.put("greeting", "hello")                       // { created: true }
 *   const v = yield* kv.get("greeting")                      // Option<Uint8Array>
 *   yield* kv.cas("greeting", "hello", "bye")                // fails with Conflict on a mismatch
 *   const page = yield* kv.scan({ prefix: "user-", limit: 100 })
 *
 * Keys and values are bytes; strings are taken as their UTF-8 bytes (`KvClient.text` reads
 * values back as text). A missing key is `Option.none()`, not an error.
 *
 * ERRORS (ClientErrors.ts): `Unavailable` (nothing happened), `Timeout` (a write may have
 * happened, once), `InvalidRequest` (refused locally: empty or oversized key, oversized value,
 * scan limit out of range), and for `cas` `Conflict` carrying the value found.
 *
 * Reads are linearizable (ReadIndex on the shard's leader) unless `staleRead: true`, which
 * lets the shard answer from its current state without the ReadIndex round.
 *
 * Layers: `layer` (over a `Router` in context), `layerBus(options)` (over a `Bus` in context:
 * in-process clusters, a node's own bus), `layerNats(options)` (its own NATS connection).
 */
import { Chunk, Context, Effect, Either, Layer, Option, Stream } from "effect"
import type * as Duration from "effect/Duration"
import { KIND, KvProtocol, MAX_KEY_BYTES, MAX_VALUE_BYTES } from "../../shards/kv/Kv.js"
import * as EntityClient from "../runtime/entity/EntityClient.js"
import type { EntityError } from "../runtime/entity/EntityError.js"
import { display, invalidReason, slotOf } from "../runtime/entity/EntityId.js"
import * as ShardScan from "../runtime/entity/ShardScan.js"
import * as Wire from "../runtime/entity/Wire.js"
import type { Bus } from "../transport/Bus.js"
import type { NatsConnectionError } from "../transport/NatsConnection.js"
import { Conflict, InvalidRequest, type KvError, NotUtf8, Unavailable } from "./ClientErrors.js"
import * as Router from "./Router.js"
import * as ScanMerge from "./ScanMerge.js"

/** A key or value: bytes, or a string taken as its UTF-8 bytes. */
export type Bytes = string | Uint8Array

/** Options of every operation. */
export interface KvCallOptions {
  /** Give up after this long (default: the router's deadline). */
  readonly deadline?: Duration.DurationInput
}

/** Options of reads. */
export interface KvReadOptions extends KvCallOptions {
  /** Accept a possibly stale answer without the ReadIndex round (default false). */
  readonly staleRead?: boolean
}

/** One key and its value. */
export interface KvEntry {
  readonly key: Uint8Array
  readonly value: Uint8Array
}

/** A page of a scan. */
export interface KvPage {
  /** In byte order of keys. */
  readonly entries: ReadonlyArray<KvEntry>
  /** Pass as `after` to read the next page; none at the end of the range. */
  readonly continuation: Option.Option<Uint8Array>
}

/** What a scan reads: keys in `[start, end)` that start with `prefix`, after `after`. */
export interface KvScanOptions extends KvReadOptions {
  readonly prefix?: Bytes
  readonly start?: Bytes
  readonly end?: Bytes
  /** The continuation of the previous page (exclusive lower bound). */
  readonly after?: Uint8Array
  /** At most this many entries (1 .. 10,000; default 100). */
  readonly limit?: number
}

/** Default page size of `scan`. */
export const DEFAULT_SCAN_LIMIT = 100

/** The KV client. */
export interface KvClientService {
  /** The value of `key`, or none when the key is absent. */
  readonly get: (key: Bytes, options?: KvReadOptions) => Effect.Effect<Option.Option<Uint8Array>, KvError>
  /** Sets the value of `key`; `created` says whether the key was absent. */
  readonly put: (
    key: Bytes,
    value: Bytes,
    options?: KvCallOptions,
  ) => Effect.Effect<{ readonly created: boolean }, KvError>
  /** Removes `key`; `deleted` says whether it was present. */
  readonly delete: (
    key: Bytes,
    options?: KvCallOptions,
  ) => Effect.Effect<{ readonly deleted: boolean }, KvError>
  /**
   * Sets `key` to `value` (null: deletes it) if its current value is `expected` (null: the key
   * is absent). Fails with `Conflict` carrying the current value otherwise; nothing is written.
   */
  readonly cas: (
    key: Bytes,
    expected: Bytes | null,
    value: Bytes | null,
    options?: KvCallOptions,
  ) => Effect.Effect<void, KvError | Conflict>
  /** One page of keys in byte order, across every shard. */
  readonly scan: (options?: KvScanOptions) => Effect.Effect<KvPage, KvError>
  /** Every entry of the range, page after page. */
  readonly scanAll: (options?: KvScanOptions) => Stream.Stream<KvEntry, KvError>
}

/** The KV client service. */
export class KvClient extends Context.Tag("flotilla/client/KvClient")<KvClient, KvClientService>() {}

const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/** The bytes of a key or value. */
export const toBytes = (b: Bytes): Uint8Array => (typeof b === "string" ? encoder.encode(b) : b)

/** A value as text; `undefined` when it is not valid UTF-8. */
export const toText = (bytes: Uint8Array): string | undefined => {
  try {
    return decoder.decode(bytes)
  } catch {
    return undefined
  }
}

export const checkKey = (key: Bytes): Either.Either<Uint8Array, InvalidRequest> => {
  const bytes = toBytes(key)
  const bad = invalidReason(bytes)
  return bad === undefined
    ? Either.right(bytes)
    : Either.left(new InvalidRequest({ reason: bad.replace("entity id", "key") }))
}

export const checkValue = (value: Bytes): Either.Either<Uint8Array, InvalidRequest> => {
  const bytes = toBytes(value)
  return bytes.length > MAX_VALUE_BYTES
    ? Either.left(
        new InvalidRequest({ reason: `value is ${bytes.length} bytes, the limit is ${MAX_VALUE_BYTES}` }),
      )
    : Either.right(bytes)
}

const checkOptionalKey = (b: Bytes | undefined, what: string) => {
  if (b === undefined) return Either.right(undefined)
  const bytes = toBytes(b)
  return bytes.length > MAX_KEY_BYTES
    ? Either.left(
        new InvalidRequest({ reason: `${what} is ${bytes.length} bytes, the limit is ${MAX_KEY_BYTES}` }),
      )
    : Either.right(bytes)
}

/** A shard's `EntityError` as a client error: bad input, or a refusal (nothing applied). */
const fromEntityError = (operation: string, e: EntityError): KvError => {
  switch (e._tag) {
    case "InvalidEntityId":
    case "InvalidPayload":
    case "RequestTooLarge":
    case "InvalidScan":
      return new InvalidRequest({ reason: `${e._tag}: ${e.message}` })
    default:
      return new Unavailable({
        operation,
        attempts: 1,
        reason: `the shard refused it: ${e._tag} ${e.message}`,
      })
  }
}

type Decoded<A> = Either.Either<A, unknown>

/** Maps the left side of a decoded reply to a client error. */
export const replyError = (operation: string, left: unknown): KvError => {
  const e = left as { readonly _tag: string; readonly message?: string }
  switch (e._tag) {
    case "ValueTooLarge":
      return new InvalidRequest({ reason: `the shard refused the value: ${e.message ?? "too large"}` })
    case "EntityUnavailable":
    case "ReplyUndecodable":
      return new Unavailable({ operation, attempts: 1, reason: e.message ?? e._tag })
    default:
      return fromEntityError(operation, left as EntityError)
  }
}

const orFail = <A>(operation: string, decoded: Decoded<A>): Effect.Effect<A, KvError> =>
  Either.isRight(decoded) ? Effect.succeed(decoded.right) : Effect.fail(replyError(operation, decoded.left))

/** Options of a KV client. */
export interface KvOptions {
  /** The keyspace (default: the keyspace of kind `kv`, the one named `kv` if there are several). */
  readonly keyspace?: string
}

/** The keyspace option of every call (none: the router's default for kind `kv`). */
type KeyspaceOption = { readonly keyspace?: string }

/**
 * One KV operation on `key` through the router: the shard's reply, decoded, its declared
 * failure as a client error. Plain steps, no generator: every get and put takes this path.
 */
const invoke = <K extends "Put" | "Delete" | "Cas" | "Get">(
  router: Router.RouterService,
  keyspace: KeyspaceOption,
  operation: K,
  key: Uint8Array,
  payload: object,
  options: (KvCallOptions & { readonly staleRead?: boolean }) | undefined,
): Effect.Effect<unknown, KvError> => {
  const raw = EntityClient.encodePayload(KvProtocol, operation, payload as never)
  if (Either.isLeft(raw)) return Effect.fail(new InvalidRequest({ reason: raw.left.message }))
  const reply = router.call(
    {
      kind: KIND,
      operation,
      type: operation === "Get" ? "query" : "command",
      entityId: key,
      slot: slotOf(key),
      payload: raw.right,
      staleRead: options?.staleRead === true,
    },
    options?.deadline === undefined ? keyspace : { ...keyspace, deadline: options.deadline },
  )
  return Effect.flatMap(reply, (bytes) =>
    orFail(`kv.${operation}`, EntityClient.decodeReply(KvProtocol, operation, bytes) as Decoded<unknown>),
  )
}

/** One page of a scan: the same request to every shard, merged in key order (ScanMerge.ts). */
const scanPage = (
  router: Router.RouterService,
  keyspace: KeyspaceOption,
  options: KvScanOptions,
): Effect.Effect<KvPage, KvError> =>
  Effect.gen(function* () {
    const limit = options.limit ?? DEFAULT_SCAN_LIMIT
    if (!Number.isInteger(limit) || limit < 1 || limit > Wire.MAX_SCAN_LIMIT)
      return yield* Effect.fail(
        new InvalidRequest({ reason: `scan limit ${limit} is outside 1..${Wire.MAX_SCAN_LIMIT}` }),
      )
    const prefix = yield* checkOptionalKey(options.prefix, "prefix")
    const start = yield* checkOptionalKey(options.start, "start")
    const end = yield* checkOptionalKey(options.end, "end")
    const after = yield* checkOptionalKey(options.after, "after")
    const range = ScanMerge.prefixRange(prefix, start, end)
    const replies = yield* router.scan(
      KIND,
      { start: range.start, end: range.end, after, limit, values: true },
      {
        ...keyspace,
        staleRead: options.staleRead === true,
        ...(options.deadline === undefined ? {} : { deadline: options.deadline }),
      },
    )
    const pages: ShardScan.ScanPage<Uint8Array | null>[] = []
    for (const reply of replies)
      pages.push(yield* orFail("kv.Scan", ShardScan.decodeReply(KvProtocol, reply) as Decoded<never>))
    const merged = ScanMerge.merge(pages, limit)
    const entries: KvEntry[] = []
    for (const e of merged.entries)
      if (e.state instanceof Uint8Array) entries.push({ key: e.id, value: e.state })
    return { entries, continuation: Option.fromNullable(merged.continuation) }
  })

/** The KV client over a router. */
export const make = (router: Router.RouterService, kvOptions: KvOptions = {}): KvClientService => {
  const keyspace: KeyspaceOption = kvOptions.keyspace === undefined ? {} : { keyspace: kvOptions.keyspace }
  const call = <K extends "Put" | "Delete" | "Cas" | "Get">(
    operation: K,
    key: Uint8Array,
    payload: object,
    options: (KvCallOptions & { readonly staleRead?: boolean }) | undefined,
  ) => invoke(router, keyspace, operation, key, payload, options)
  const scan: KvClientService["scan"] = (options = {}) => scanPage(router, keyspace, options)

  return {
    get: (key, options) =>
      Effect.suspend(() => {
        const k = checkKey(key)
        if (Either.isLeft(k)) return Effect.fail(k.left)
        return Effect.map(call("Get", k.right, {}, options), (value) =>
          Option.fromNullable(value as Uint8Array | null),
        )
      }),
    put: (key, value, options) =>
      Effect.suspend(() => {
        const k = checkKey(key)
        if (Either.isLeft(k)) return Effect.fail(k.left)
        const v = checkValue(value)
        if (Either.isLeft(v)) return Effect.fail(v.left)
        return call("Put", k.right, { value: v.right }, options) as Effect.Effect<
          { readonly created: boolean },
          KvError
        >
      }),
    delete: (key, options) =>
      Effect.suspend(() => {
        const k = checkKey(key)
        if (Either.isLeft(k)) return Effect.fail(k.left)
        return call("Delete", k.right, {}, options) as Effect.Effect<{ readonly deleted: boolean }, KvError>
      }),
    cas: (key, expected, value, options) =>
      Effect.gen(function* () {
        const k = yield* checkKey(key)
        const e = expected === null ? null : yield* checkValue(expected)
        const v = value === null ? null : yield* checkValue(value)
        const outcome = (yield* call("Cas", k, { expected: e, value: v }, options)) as
          | { readonly succeeded: true }
          | { readonly succeeded: false; readonly current: Uint8Array | null }
        if (!outcome.succeeded)
          return yield* Effect.fail(new Conflict({ key: display(k), current: outcome.current }))
      }),
    scan,
    scanAll: (options = {}) =>
      Stream.paginateChunkEffect(options.after, (after) =>
        Effect.map(scan({ ...options, after }), (page) => [
          Chunk.fromIterable(page.entries),
          Option.map(page.continuation, (c) => c as Uint8Array | undefined),
        ]),
      ),
  }
}

/** The KV client over the `Router` in context. */
export const layerWith = (options: KvOptions = {}): Layer.Layer<KvClient, never, Router.Router> =>
  Layer.effect(
    KvClient,
    Effect.map(Router.Router, (router) => make(router, options)),
  )

/** The KV client over the `Router` in context, on the default keyspace. */
export const layer: Layer.Layer<KvClient, never, Router.Router> = layerWith()

/** The KV client with its own router over the `Bus` in context. */
export const layerBus = (options: Router.RouterOptions & KvOptions): Layer.Layer<KvClient, never, Bus> =>
  layerWith(options).pipe(Layer.provide(Router.layer(options)))

/** The KV client with its own NATS connection. */
export const layerNats = (
  options: Router.NatsRouterOptions & KvOptions,
): Layer.Layer<KvClient, NatsConnectionError> =>
  layerWith(options).pipe(Layer.provide(Router.layerNats(options)))

/** Reads the value of `key` as text: none when absent, `NotUtf8` when it is not UTF-8. */
export const getText = (
  key: Bytes,
  options?: KvReadOptions,
): Effect.Effect<Option.Option<string>, KvError | NotUtf8, KvClient> =>
  Effect.gen(function* () {
    const kv = yield* KvClient
    const value = yield* kv.get(key, options)
    if (Option.isNone(value)) return Option.none()
    const text = toText(value.value)
    if (text === undefined) return yield* Effect.fail(new NotUtf8({ key: display(toBytes(key)) }))
    return Option.some(text)
  })
