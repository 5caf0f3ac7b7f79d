/**
 * The revisioned KV client (issue 17): reads with revisions and at past revisions, etcd-style
 * transactions within one hash slot, compare-and-set by mod revision, leases and puts with a
 * TTL, and watches (`KvWatch.ts`).
 *
 *   const kv = yield* KvRevClient
 *   const { revision } = yield* kv.txn({
 *     compare: [{ key: "{acct}a", target: "modRevision", result: "=", number: 0 }],
 *     success: [{ op: "put", key: "{acct}a", value: "100" }],
 *   })
 *   const old = yield* kv.read("{acct}a", { revision })
 *
 * Revisions are PER SHARD: a revision compares only with revisions of keys of the same shard
 * (keys sharing a hash tag always do). A transaction's keys must share a hash slot (use a hash
 * tag `{...}`); one that does not is refused here, before anything is sent, with `CrossSlot`.
 */
import { Context, Effect, Either, Layer, Option } from "effect"
import type * as Duration from "effect/Duration"
import { KIND } from "../../shards/kv/Kv.js"
import {
  type Compacted,
  CrossSlot,
  type FutureRevision,
  type KeyValue,
  KvRevProtocol,
  type LeaseNotFound,
  MAX_TXN_OPS,
  type TxnOpResult,
  TxnTooLarge,
} from "../../shards/kv/KvRev.js"
import * as EntityClient from "../runtime/entity/EntityClient.js"
import { display, slotOf } from "../runtime/entity/EntityId.js"
import type { Bus } from "../transport/Bus.js"
import { Conflict, InvalidRequest, type KvError } from "./ClientErrors.js"
import { type Bytes, checkKey, checkValue, replyError, toBytes } from "./KvClient.js"
import * as Router from "./Router.js"

export { Compacted, CrossSlot, FutureRevision, LeaseNotFound, TxnTooLarge } from "../../shards/kv/KvRev.js"

/** A comparison of a transaction (values and keys as bytes or UTF-8 strings). */
export type TxnCompare =
  | {
      readonly key: Bytes
      readonly target: "value"
      readonly result: "=" | "!=" | "<" | ">"
      /** Null: the key is absent. */
      readonly value: Bytes | null
    }
  | {
      readonly key: Bytes
      readonly target: "modRevision" | "createRevision" | "version" | "lease"
      readonly result: "=" | "!=" | "<" | ">"
      readonly number: number
    }

/** An operation of a transaction. */
export type TxnOperation =
  | {
      readonly op: "put"
      readonly key: Bytes
      readonly value: Bytes
      readonly lease?: number
      readonly ttlMs?: number
    }
  | { readonly op: "delete"; readonly key: Bytes }
  | { readonly op: "get"; readonly key: Bytes }

/** A transaction: if every compare holds, `success` runs, else `failure`; atomically. */
export interface Txn {
  readonly compare?: ReadonlyArray<TxnCompare>
  readonly success?: ReadonlyArray<TxnOperation>
  readonly failure?: ReadonlyArray<TxnOperation>
}

/** What a transaction did. */
export interface TxnResponse {
  readonly succeeded: boolean
  /** The shard revision after the transaction. */
  readonly revision: number
  readonly results: ReadonlyArray<TxnOpResult>
}

/** A lease: its id and the key that routes to its shard (keys attached must share its slot). */
export interface Lease {
  readonly id: number
  readonly ttlMs: number
  readonly routeKey: Uint8Array
}

/** Options of every call. */
export interface RevCallOptions {
  readonly deadline?: Duration.DurationInput
}

/** Errors of transactions. */
export type TxnError = KvError | CrossSlot | LeaseNotFound | TxnTooLarge

/** The revisioned KV client. */
export interface KvRevClientService {
  /** The key now, or at a past `revision` of its shard; with the shard revision the read saw. */
  readonly read: (
    key: Bytes,
    options?: RevCallOptions & { readonly revision?: number },
  ) => Effect.Effect<
    { readonly revision: number; readonly kv: Option.Option<KeyValue> },
    KvError | Compacted | FutureRevision
  >
  /** Runs a transaction; its keys must share one hash slot. */
  readonly txn: (txn: Txn, options?: RevCallOptions) => Effect.Effect<TxnResponse, TxnError>
  /** Sets `key` (optionally attached to a lease, or with a TTL); returns the new revision. */
  readonly put: (
    key: Bytes,
    value: Bytes,
    options?: RevCallOptions & { readonly lease?: Lease; readonly ttlMs?: number },
  ) => Effect.Effect<
    { readonly revision: number; readonly prev: KeyValue | null; readonly lease: number },
    TxnError
  >
  /**
   * Sets `key` (null: deletes it) if its mod revision is `modRevision` (0: the key is absent).
   * Fails with `Conflict` otherwise, carrying the current value.
   */
  readonly casRevision: (
    key: Bytes,
    modRevision: number,
    value: Bytes | null,
    options?: RevCallOptions,
  ) => Effect.Effect<{ readonly revision: number }, TxnError | Conflict>
  /** Grants a lease of `ttlMs` in the slot of `routeKey` (keys attached must share that slot). */
  readonly grant: (routeKey: Bytes, ttlMs: number, options?: RevCallOptions) => Effect.Effect<Lease, KvError>
  /** Restarts the lease's time to live. */
  readonly keepAlive: (lease: Lease, options?: RevCallOptions) => Effect.Effect<void, KvError | LeaseNotFound>
  /** Ends the lease and deletes its keys. */
  readonly revoke: (
    lease: Lease,
    options?: RevCallOptions,
  ) => Effect.Effect<{ readonly deleted: number }, KvError | LeaseNotFound>
  /** The lease's TTL and the time it has left by its shard's clock. */
  readonly timeToLive: (
    lease: Lease,
    options?: RevCallOptions,
  ) => Effect.Effect<
    { readonly ttlMs: number; readonly remainingMs: number; readonly keys: number },
    KvError | LeaseNotFound
  >
  /** The router underneath (watches use it). */
  readonly router: Router.RouterService
}

/** The revisioned KV client service. */
export class KvRevClient extends Context.Tag("flotilla/client/KvRevClient")<
  KvRevClient,
  KvRevClientService
>() {}

type RevOp = "Txn" | "LeaseGrant" | "LeaseKeepAlive" | "LeaseRevoke" | "Read" | "Events" | "LeaseTimeToLive"
const QUERIES: ReadonlySet<RevOp> = new Set(["Read", "Events", "LeaseTimeToLive"])
const DECLARED = new Set(["Compacted", "FutureRevision", "CrossSlot", "LeaseNotFound", "TxnTooLarge"])

/** One revisioned operation addressed to `key`; declared failures pass through as they are. */
export const invoke = <E = never>(
  router: Router.RouterService,
  operation: RevOp,
  key: Uint8Array,
  payload: object,
  options: RevCallOptions & { readonly keyspace?: string } = {},
): Effect.Effect<unknown, KvError | E> =>
  Effect.gen(function* () {
    const raw = EntityClient.encodePayload(KvRevProtocol, operation, payload as never)
    if (Either.isLeft(raw)) return yield* Effect.fail(new InvalidRequest({ reason: raw.left.message }))
    const reply = yield* router.call(
      {
        kind: KIND,
        operation,
        type: QUERIES.has(operation) ? "query" : "command",
        entityId: key,
        slot: slotOf(key),
        payload: raw.right,
        staleRead: false,
      },
      {
        ...(options.keyspace === undefined ? {} : { keyspace: options.keyspace }),
        ...(options.deadline === undefined ? {} : { deadline: options.deadline }),
      },
    )
    const decoded = EntityClient.decodeReply(KvRevProtocol, operation, reply) as Either.Either<
      unknown,
      unknown
    >
    if (Either.isRight(decoded)) return decoded.right
    const left = decoded.left as { readonly _tag: string }
    if (DECLARED.has(left._tag)) return yield* Effect.fail(left as E)
    return yield* Effect.fail(replyError(`kv.${operation}`, left))
  })

/** Checks a transaction and gives it in wire form with the key it is addressed to. */
export const prepareTxn = (
  txn: Txn,
): Either.Either<
  { readonly route: Uint8Array; readonly payload: object },
  InvalidRequest | CrossSlot | TxnTooLarge
> =>
  Either.gen(function* () {
    const compare = txn.compare ?? []
    const success = txn.success ?? []
    const failure = txn.failure ?? []
    for (const n of [compare.length, success.length, failure.length])
      if (n > MAX_TXN_OPS) return yield* Either.left(new TxnTooLarge({ count: n, limit: MAX_TXN_OPS }))
    const keys: Uint8Array[] = []
    const key = (k: Bytes) =>
      Either.map(checkKey(k), (b) => {
        keys.push(b)
        return b
      })
    const wireCompare = []
    for (const c of compare)
      wireCompare.push(
        c.target === "value"
          ? { ...c, key: yield* key(c.key), value: c.value === null ? null : yield* checkValue(c.value) }
          : { ...c, key: yield* key(c.key) },
      )
    const ops = function* (list: ReadonlyArray<TxnOperation>) {
      const out = []
      for (const o of list)
        out.push(
          o.op === "put"
            ? { ...o, key: yield* key(o.key), value: yield* checkValue(o.value) }
            : { ...o, key: yield* key(o.key) },
        )
      return out
    }
    const wireSuccess = yield* ops(success)
    const wireFailure = yield* ops(failure)
    if (keys.length === 0)
      return yield* Either.left(new InvalidRequest({ reason: "a transaction names no key" }))
    const route = keys[0]!
    const slot = slotOf(route)
    for (const k of keys)
      if (slotOf(k) !== slot)
        return yield* Either.left(new CrossSlot({ key: display(k), slot: slotOf(k), expectedSlot: slot }))
    return { route, payload: { compare: wireCompare, success: wireSuccess, failure: wireFailure } }
  })

/** The revisioned client over a router. */
export const make = (
  router: Router.RouterService,
  clientOptions: { readonly keyspace?: string } = {},
): KvRevClientService => {
  const call = <A, E = never>(operation: RevOp, key: Uint8Array, payload: object, options?: RevCallOptions) =>
    invoke<E>(router, operation, key, payload, { ...clientOptions, ...options }) as Effect.Effect<
      A,
      KvError | E
    >
  const txn: KvRevClientService["txn"] = (t, options) =>
    Effect.gen(function* () {
      const { route, payload } = yield* prepareTxn(t)
      return yield* call<TxnResponse, CrossSlot | LeaseNotFound | TxnTooLarge>("Txn", route, payload, options)
    })
  return {
    router,
    read: (key, options) =>
      Effect.gen(function* () {
        const k = yield* checkKey(key)
        const r = yield* call<{ revision: number; kv: KeyValue | null }, Compacted | FutureRevision>(
          "Read",
          k,
          { revision: options?.revision ?? null },
          options,
        )
        return { revision: r.revision, kv: Option.fromNullable(r.kv) }
      }),
    txn,
    put: (key, value, options) =>
      Effect.gen(function* () {
        const op: TxnOperation = {
          op: "put",
          key,
          value,
          ...(options?.lease === undefined ? {} : { lease: options.lease.id }),
          ...(options?.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
        }
        const r = yield* txn({ success: [op] }, options)
        const result = r.results[0] as Extract<TxnOpResult, { op: "put" }>
        return { revision: r.revision, prev: result.prev, lease: result.lease }
      }),
    casRevision: (key, modRevision, value, options) =>
      Effect.gen(function* () {
        const op: TxnOperation = value === null ? { op: "delete", key } : { op: "put", key, value }
        const r = yield* txn(
          {
            compare: [{ key, target: "modRevision", result: "=", number: modRevision }],
            success: [op],
            failure: [{ op: "get", key }],
          },
          options,
        )
        if (r.succeeded) return { revision: r.revision }
        const current = r.results[0] as Extract<TxnOpResult, { op: "get" }>
        return yield* Effect.fail(
          new Conflict({ key: display(toBytes(key)), current: current.kv?.value ?? null }),
        )
      }),
    grant: (routeKey, ttlMs, options) =>
      Effect.gen(function* () {
        const k = yield* checkKey(routeKey)
        const r = yield* call<{ lease: number; ttlMs: number }>("LeaseGrant", k, { ttlMs }, options)
        return { id: r.lease, ttlMs: r.ttlMs, routeKey: k }
      }),
    keepAlive: (lease, options) =>
      Effect.asVoid(
        call<unknown, LeaseNotFound>("LeaseKeepAlive", lease.routeKey, { lease: lease.id }, options),
      ),
    revoke: (lease, options) =>
      Effect.map(
        call<{ deleted: number }, LeaseNotFound>("LeaseRevoke", lease.routeKey, { lease: lease.id }, options),
        (r) => ({ deleted: r.deleted }),
      ),
    timeToLive: (lease, options) =>
      call<{ ttlMs: number; remainingMs: number; keys: number }, LeaseNotFound>(
        "LeaseTimeToLive",
        lease.routeKey,
        { lease: lease.id },
        options,
      ),
  }
}

/** The revisioned client over the `Router` in context. */
export const layerWith = (
  options: { readonly keyspace?: string } = {},
): Layer.Layer<KvRevClient, never, Router.Router> =>
  Layer.effect(
    KvRevClient,
    Effect.map(Router.Router, (router) => make(router, options)),
  )

/** The revisioned client over the `Router` in context, on the default keyspace. */
export const layer: Layer.Layer<KvRevClient, never, Router.Router> = layerWith()

/** The revisioned client with its own router over the `Bus` in context. */
export const layerBus = (options: Router.RouterOptions): Layer.Layer<KvRevClient, never, Bus> =>
  layer.pipe(Layer.provide(Router.layer(options)))
