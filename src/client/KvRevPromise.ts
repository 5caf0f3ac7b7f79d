/**
 * The revisioned KV client, the watch and the recipes for code that does not use Effect:
 *
 *   const kv = await createKvRevClient({ servers: "127.0.0.1:4222", cluster: "dev" })
 *   const { revision } = await kv.put("{cfg}a", "1")
 *   for await (const e of kv.watch("{cfg}", { fromRevision: revision })) console.log(e.type, e.key)
 *   const lock = await kv.lock("jobs", { ttlMs: 5_000 }); try { ... } finally { await lock.release() }
 *   await kv.close()
 *
 * Rejections are the tagged errors of the Effect client (`Error` instances with a `_tag`).
 * Breaking out of a `for await` over a watch stops it.
 */
import { Cause, Effect, Exit, Layer, ManagedRuntime, Option, Scope, Stream } from "effect"
import type { KeyValue } from "../../shards/kv/KvRev.js"
import * as KvRecipes from "./KvRecipes.js"
import { KvRevClient, type Lease, layerWith, type Txn, type TxnResponse } from "./KvRevClient.js"
import * as KvWatch from "./KvWatch.js"
import type { CreateKvClientOptions } from "./PromiseClient.js"
import * as Router from "./Router.js"

/** A held lock or leadership; `release` gives it up (revokes its lease). */
export interface HeldHandle extends KvRecipes.Held {
  release(): Promise<void>
}

/** The revisioned KV client with Promises. */
export interface KvRevPromiseClient {
  read(
    key: string | Uint8Array,
    options?: { readonly revision?: number },
  ): Promise<{ revision: number; kv: KeyValue | undefined }>
  txn(txn: Txn): Promise<TxnResponse>
  put(
    key: string | Uint8Array,
    value: string | Uint8Array,
    options?: { readonly lease?: Lease; readonly ttlMs?: number },
  ): Promise<{ revision: number; prev: KeyValue | null; lease: number }>
  casRevision(
    key: string | Uint8Array,
    modRevision: number,
    value: string | Uint8Array | null,
  ): Promise<{ revision: number }>
  grant(routeKey: string | Uint8Array, ttlMs: number): Promise<Lease>
  keepAlive(lease: Lease): Promise<void>
  revoke(lease: Lease): Promise<{ deleted: number }>
  /** The events under `prefix` (see `KvWatch.watch`), as an async iterator. */
  watch(prefix: string | Uint8Array, options?: KvWatch.WatchOptions): AsyncIterable<KvWatch.WatchEvent>
  lock(name: string, options?: KvRecipes.RecipeOptions): Promise<HeldHandle>
  campaign(name: string, value: string | Uint8Array, options?: KvRecipes.RecipeOptions): Promise<HeldHandle>
  leader(name: string): Promise<Uint8Array | undefined>
  close(): Promise<void>
}

/** The Promise client over a layer providing the revisioned client. */
export const fromLayer = async <E>(layer: Layer.Layer<KvRevClient, E>): Promise<KvRevPromiseClient> => {
  const runtime = ManagedRuntime.make(layer)
  const run = async <A, F>(effect: Effect.Effect<A, F, KvRevClient>): Promise<A> => {
    const exit = await runtime.runPromiseExit(effect)
    if (Exit.isSuccess(exit)) return exit.value
    throw Cause.squash(exit.cause)
  }
  const rt = await runtime.runtime()
  const runtimeOf = () => rt
  const hold = async (acquire: Effect.Effect<KvRecipes.Held, unknown, KvRevClient | Scope.Scope>) => {
    const scope = await runtime.runPromise(Scope.make())
    try {
      const held = await run(Scope.extend(acquire, scope))
      return { ...held, release: () => runtime.runPromise(Scope.close(scope, Exit.void)) }
    } catch (e) {
      await runtime.runPromise(Scope.close(scope, Exit.void))
      throw e
    }
  }
  const kv = <A, F>(f: (c: KvRevClient["Type"]) => Effect.Effect<A, F>) => run(Effect.flatMap(KvRevClient, f))
  let closing = false
  return {
    read: async (key, options) => {
      const r = await kv((c) => c.read(key, options))
      return { revision: r.revision, kv: Option.getOrUndefined(r.kv) }
    },
    txn: (t) => kv((c) => c.txn(t)),
    put: (key, value, options) => kv((c) => c.put(key, value, options)),
    casRevision: (key, modRevision, value) => kv((c) => c.casRevision(key, modRevision, value)),
    grant: (routeKey, ttlMs) => kv((c) => c.grant(routeKey, ttlMs)),
    keepAlive: (lease) => kv((c) => c.keepAlive(lease)),
    revoke: (lease) => kv((c) => c.revoke(lease)),
    watch: (prefix, options) => ({
      [Symbol.asyncIterator]: () => {
        const stream = Stream.unwrap(
          Effect.map(KvRevClient, (c) => KvWatch.watch(c.router, prefix, options)),
          // Closing the client ends its watches: a failure once it is closing (the connection
          // going away under a poll) ends the iteration instead of rejecting it in the background.
        ).pipe(Stream.catchAllCause((cause) => (closing ? Stream.empty : Stream.failCause(cause))))
        // The iterator runs the stream in the client's runtime; `return()` (a `break`) interrupts it.
        return Stream.toAsyncIterableRuntime(stream, runtimeOf())[Symbol.asyncIterator]()
      },
    }),
    lock: (name, options) => hold(KvRecipes.lock(name, options)),
    campaign: (name, value, options) => hold(KvRecipes.campaign(name, value, options)),
    leader: async (name) => Option.getOrUndefined(await run(KvRecipes.leader(name))),
    close: () => {
      closing = true
      return runtime.dispose()
    },
  }
}

/** Connects to NATS and returns the revisioned Promise client. */
export const createKvRevClient = (options: CreateKvClientOptions): Promise<KvRevPromiseClient> => {
  const { cluster, subjectPrefix, deadlineMs, attemptTimeoutMs, ...nats } = options
  const router: Router.RouterOptions = {
    cluster: cluster ?? "default",
    ...(subjectPrefix === undefined ? {} : { subjectPrefix }),
    ...(deadlineMs === undefined ? {} : { deadline: deadlineMs }),
    ...(attemptTimeoutMs === undefined ? {} : { attemptTimeout: attemptTimeoutMs }),
  }
  return fromLayer(layerWith().pipe(Layer.provide(Router.layerNats({ ...router, nats }))))
}
