/**
 * The KV client for code that does not use Effect: the same routing core as `KvClient`,
 * behind Promises.
 *
 *   const kv = await createKvClient({ servers: "127.0.0.1:4222", cluster: "dev" })
 *   await kv.put("greeting", "hello")
 *   const v = await kv.getText("greeting")          // "hello" | undefined
 *   const r = await kv.cas("greeting", "hello", "bye")  // { succeeded: true } or { succeeded: false, current }
 *   await kv.close()
 *
 * Absent keys resolve to `undefined`. A compare-and-set that finds another value RESOLVES to
 * `{ succeeded: false, current }` (an expected outcome, not an exception). Everything else
 * rejects with the client errors of ClientErrors.ts — `Error` instances with a `_tag`:
 * `Unavailable` (nothing happened), `Timeout` (a write may have happened, once),
 * `InvalidRequest`, `NotUtf8` — or with the connection's error when `createKvClient` cannot
 * reach NATS.
 */
import { Cause, Effect, Exit, Layer, Logger, ManagedRuntime, Option } from "effect"
import { logRecord } from "../runtime/LogFormat.js"
import type { NatsConnectionOptions } from "../transport/NatsConnection.js"
import { getText, KvClient, type KvClientService, type KvScanOptions, layerNats } from "./KvClient.js"
import type { RouterOptions } from "./Router.js"

/** Options of `createKvClient`. */
export interface CreateKvClientOptions extends NatsConnectionOptions {
  /** The cluster name (default `default`). */
  readonly cluster?: string
  /** First subject token(s) (default `flotilla`). */
  readonly subjectPrefix?: string
  /** Default deadline of every call, in ms (default 10,000). */
  readonly deadlineMs?: number
  /** How long one request waits before it is resent, in ms (default 3,000). */
  readonly attemptTimeoutMs?: number
  /**
   * Where the client's log lines go (connection lost and back, ...), as records with `time`,
   * `level`, `message` and `cause`. Without it the client writes nothing.
   */
  readonly logger?: (record: Record<string, unknown>) => void
}

/** Per-call options. */
export interface PromiseCallOptions {
  /** Give up after this many ms. */
  readonly deadlineMs?: number
}

/** Per-read options. */
export interface PromiseReadOptions extends PromiseCallOptions {
  /** Accept a possibly stale answer without the ReadIndex round. */
  readonly staleRead?: boolean
}

/** Scan options: keys in `[start, end)` starting with `prefix`, after `after`. */
export interface PromiseScanOptions extends PromiseReadOptions {
  readonly prefix?: string | Uint8Array
  readonly start?: string | Uint8Array
  readonly end?: string | Uint8Array
  readonly after?: Uint8Array
  /** 1 .. 10,000 (default 100). */
  readonly limit?: number
}

/** A KV client with Promises. */
export interface KvPromiseClient {
  get(key: string | Uint8Array, options?: PromiseReadOptions): Promise<Uint8Array | undefined>
  getText(key: string | Uint8Array, options?: PromiseReadOptions): Promise<string | undefined>
  put(
    key: string | Uint8Array,
    value: string | Uint8Array,
    options?: PromiseCallOptions,
  ): Promise<{ readonly created: boolean }>
  delete(key: string | Uint8Array, options?: PromiseCallOptions): Promise<{ readonly deleted: boolean }>
  cas(
    key: string | Uint8Array,
    expected: string | Uint8Array | null,
    value: string | Uint8Array | null,
    options?: PromiseCallOptions,
  ): Promise<
    { readonly succeeded: true } | { readonly succeeded: false; readonly current: Uint8Array | null }
  >
  scan(options?: PromiseScanOptions): Promise<{
    readonly entries: ReadonlyArray<{ readonly key: Uint8Array; readonly value: Uint8Array }>
    readonly continuation: Uint8Array | undefined
  }>
  /** Closes the client's connection; calls after this reject. */
  close(): Promise<void>
}

const callOptions = (o?: PromiseCallOptions) =>
  o?.deadlineMs === undefined ? {} : { deadline: o.deadlineMs }
const readOptions = (o?: PromiseReadOptions) => ({ ...callOptions(o), staleRead: o?.staleRead === true })

/**
 * A Promise client over any `KvClient` layer (`KvClient.layerBus` for an in-process cluster,
 * `KvClient.layerNats` for NATS). Rejects with the layer's error if it cannot be built.
 */
export const fromLayer = async <E>(
  layer: Layer.Layer<KvClient, E>,
  options: { readonly logger?: (record: Record<string, unknown>) => void } = {},
): Promise<KvPromiseClient> => {
  // A library writes nothing to the application's output unless it is given a logger.
  const logger = options.logger
  const logs =
    logger === undefined
      ? Logger.replace(Logger.defaultLogger, Logger.none)
      : Logger.replace(
          Logger.defaultLogger,
          Logger.make((entry) => logger(logRecord(entry))),
        )
  const runtime = ManagedRuntime.make(Layer.provideMerge(layer, logs))
  const run = async <A>(effect: Effect.Effect<A, unknown, KvClient>): Promise<A> => {
    const exit = await runtime.runPromiseExit(effect)
    if (Exit.isSuccess(exit)) return exit.value
    throw Cause.squash(exit.cause)
  }
  try {
    await run(Effect.void)
  } catch (e) {
    await runtime.dispose()
    throw e
  }
  const withKv = <A, E2>(f: (kv: KvClientService) => Effect.Effect<A, E2>) => run(Effect.flatMap(KvClient, f))
  return {
    get: (key, o) => withKv((kv) => Effect.map(kv.get(key, readOptions(o)), Option.getOrUndefined)),
    getText: (key, o) => run(Effect.map(getText(key, readOptions(o)), Option.getOrUndefined)),
    put: (key, value, o) => withKv((kv) => kv.put(key, value, callOptions(o))),
    delete: (key, o) => withKv((kv) => kv.delete(key, callOptions(o))),
    cas: (key, expected, value, o) =>
      withKv((kv) =>
        kv.cas(key, expected, value, callOptions(o)).pipe(
          Effect.as({ succeeded: true } as const),
          Effect.catchTag("Conflict", (c) =>
            Effect.succeed({ succeeded: false as const, current: c.current }),
          ),
        ),
      ),
    scan: (o = {}) =>
      withKv((kv) =>
        Effect.map(kv.scan({ ...o, ...readOptions(o) } as KvScanOptions), (page) => ({
          entries: page.entries,
          continuation: Option.getOrUndefined(page.continuation),
        })),
      ),
    close: () => runtime.dispose(),
  }
}

/** A Promise client with its own NATS connection. */
export const createKvClient = (options: CreateKvClientOptions): Promise<KvPromiseClient> => {
  const { cluster, subjectPrefix, deadlineMs, attemptTimeoutMs, logger, ...nats } = options
  const router: RouterOptions = {
    cluster: cluster ?? "default",
    ...(subjectPrefix === undefined ? {} : { subjectPrefix }),
    ...(deadlineMs === undefined ? {} : { deadline: deadlineMs }),
    ...(attemptTimeoutMs === undefined ? {} : { attemptTimeout: attemptTimeoutMs }),
  }
  return fromLayer(layerNats({ ...router, nats }), { logger })
}
