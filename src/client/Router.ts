/**
 * The routing core every Flotilla client shares (`KvClient`, the entity sender, the Promise
 * client, the KV gateway): it finds the shard of a request, sends it to that shard's group
 * subject over the `Bus` (NATS or in-process), and retries until a shard answers or the
 * caller's deadline passes. This module is its API and its assembly; the work is done by:
 *
 * - GroupBatcher.ts: concurrent requests of this process to one group travel as one message;
 * - CallPath.ts: one routed request — its group, its bytes, its attempts, what each reply
 *   means — under the retry policy of Retry.ts (jittered exponential backoff within the
 *   deadline; a request without a reply within `attemptTimeout` is resent);
 * - ClientShardMap.ts: the shard map, fetched from the metadata group and cached by version,
 *   refreshed when a request says it may be stale ("no responders" on a group subject,
 *   `NotLeader`, `GroupNotFound`, and `WrongShard`, forced);
 * - SessionPool.ts: the exactly-once sessions, one per shard and kind: a command is stamped
 *   ONCE and EVERY RETRY RESENDS THE SAME BYTES (docs/entities.md);
 * - ReplicaReads.ts: stale reads answered by any replica;
 * - MetaClient.ts: requests to the metadata endpoint (`meta`).
 *
 * FAILURES: `Unavailable` when nothing can have taken effect, `Timeout` when a request went
 * unanswered (ClientErrors.ts). A reply from a shard (success, declared failure or
 * `EntityError`) is returned as it is, for the caller to decode.
 *
 * The deadline of a call is its `deadline` option, else the fiber's `withDeadline`, else the
 * router's default.
 */
import { Clock, Context, Duration, Effect, FiberRef, Layer, Option } from "effect"
import type { MetaReply, MetaRequest } from "../meta/MetaProtocol.js"
import * as ShardMapIndex from "../meta/ShardMapIndex.js"
import { type EntityCall, encodeCall } from "../runtime/entity/EntityClient.js"
import * as Wire from "../runtime/entity/Wire.js"
import { Bus, type BusService, layerNats as busLayerNats } from "../transport/Bus.js"
import * as NatsConnection from "../transport/NatsConnection.js"
import { type ClusterSubjects, clusterSubjects } from "../transport/Subjects.js"
import { type LocalGroups, type RouterCore, route } from "./CallPath.js"
import { type CallError, Unavailable } from "./ClientErrors.js"
import * as ClientShardMap from "./ClientShardMap.js"
import * as GroupBatcher from "./GroupBatcher.js"
import * as MetaClient from "./MetaClient.js"
import * as Retry from "./Retry.js"
import * as RouterStats from "./RouterStats.js"
import * as SessionPool from "./SessionPool.js"

export type { LocalGroups } from "./CallPath.js"
export type { RouterStats } from "./RouterStats.js"

/** Settings of a router. */
export interface RouterOptions {
  /** The cluster name (one subject token). */
  readonly cluster: string
  /** First subject token(s); default `flotilla`. */
  readonly subjectPrefix?: string
  /** Default deadline of a call (default 10 s). */
  readonly deadline?: Duration.DurationInput
  /** How long one request waits for its reply before it is resent (default 3 s). */
  readonly attemptTimeout?: Duration.DurationInput
  /** Backoff between retries (default 10 ms doubling to 500 ms, jittered; Retry.ts). */
  readonly backoff?: Partial<Retry.Backoff>
  /** Exactly-once sessions for commands (default true; false sends session 0: at least once). */
  readonly sessions?: boolean
  /** Commands in flight per session, below the shards' `maxPending` (default 32). */
  readonly sessionWindow?: number
  /** The keyspace of an entity kind (default: the keyspace running it, `ShardMapIndex.keyspaceFor`). */
  readonly keyspaceOf?: (kind: string) => string
  /**
   * Stale reads try a random replica through its node's admin endpoint first (default true;
   * false where clients may not use the admin subjects: stale reads then go to the leader).
   */
  readonly staleReadsFromReplicas?: boolean
  /**
   * Groups this process leads, served without the bus (the KV gateway on a node): a request to
   * such a group goes straight to the local replica (CallPath.ts).
   */
  readonly localGroups?: LocalGroups
}

/** Per-call options. */
export interface CallOptions {
  /** Give up after this long (default: `withDeadline`, else the router's default). */
  readonly deadline?: Duration.DurationInput
  /** The keyspace to route to (default: the keyspace of the call's kind). */
  readonly keyspace?: string
}

/** The routing core. */
export interface RouterService {
  readonly cluster: string
  readonly subjects: ClusterSubjects
  /** Sends an entity call to its shard and returns the shard's reply bytes. */
  readonly call: (call: EntityCall, options?: CallOptions) => Effect.Effect<Uint8Array, CallError>
  /**
   * Sends one scan request to every shard of `kind`'s keyspace (in parallel) and returns the
   * replies in slot order of the shards.
   */
  readonly scan: (
    kind: string,
    range: Wire.ScanRange,
    options?: CallOptions & { readonly staleRead?: boolean },
  ) => Effect.Effect<ReadonlyArray<Uint8Array>, CallError>
  /** The cached shard map, fetched first when there is none yet. */
  readonly shardMap: (options?: CallOptions) => Effect.Effect<ShardMapIndex.ShardMapIndex, CallError>
  /** Asks the metadata group for a newer shard map now. */
  readonly refresh: (options?: CallOptions) => Effect.Effect<ShardMapIndex.ShardMapIndex, CallError>
  /**
   * A request to the metadata endpoint (docs/protocol.md), retried while no metadata leader
   * answers or the answer is a runtime error; the first definitive answer.
   */
  readonly meta: (request: MetaRequest, options?: CallOptions) => Effect.Effect<MetaReply, CallError>
  readonly stats: Effect.Effect<RouterStats.RouterStats>
  /** Exactly-once sessions this router holds now (0 without sessions). */
  readonly sessionsOpen: () => number
}

/** The routing core of this client. */
export class Router extends Context.Tag("flotilla/client/Router")<Router, RouterService>() {}

/** The deadline set by `withDeadline` for the calls of a fiber. */
export const currentDeadline: FiberRef.FiberRef<Option.Option<Duration.Duration>> = FiberRef.unsafeMake<
  Option.Option<Duration.Duration>
>(Option.none())

/** Runs `effect` with `deadline` as the default deadline of every routed call inside it. */
export const withDeadline =
  (deadline: Duration.DurationInput) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.locally(effect, currentDeadline, Option.some(Duration.decode(deadline)))

const ms = (d: Duration.DurationInput) => Duration.toMillis(Duration.decode(d))

/** The deadline of a call, in ms: its option, else the fiber's `withDeadline`, else `fallbackMs`. */
const deadlineOf = (options: CallOptions | undefined, fallbackMs: number): Effect.Effect<number> =>
  withDeadlineOf(options, fallbackMs, Effect.succeed)

/** `f` of the deadline of a call (`deadlineOf`) in one step (the hot path). */
const withDeadlineOf = <A, E>(
  options: CallOptions | undefined,
  fallbackMs: number,
  f: (deadlineMs: number) => Effect.Effect<A, E>,
): Effect.Effect<A, E> =>
  options?.deadline !== undefined
    ? Effect.suspend(() => f(ms(options.deadline!)))
    : FiberRef.getWith(currentDeadline, (fromFiber) =>
        f(Option.isSome(fromFiber) ? Duration.toMillis(fromFiber.value) : fallbackMs),
      )

/** Builds a router over the `Bus` in context. */
export const make = (options: RouterOptions): Effect.Effect<RouterService, never, Bus> =>
  Effect.map(Bus, (bus) => makeWith(bus, options))

/** A router over `bus`. THROWS `InvalidSubjectName` on a bad cluster name or prefix. */
export const makeWith = (bus: BusService, options: RouterOptions): RouterService => {
  const subjects = clusterSubjects(options.cluster, options.subjectPrefix)
  const defaultDeadlineMs = ms(options.deadline ?? "10 seconds")
  const attemptTimeoutMs = Math.max(1, ms(options.attemptTimeout ?? "3 seconds"))
  const stats = RouterStats.zero()
  const metaEndpoint: MetaClient.MetaEndpoint = { bus, subjects, attemptTimeoutMs }
  const shardMap = ClientShardMap.make(metaEndpoint, stats)
  const core: RouterCore = {
    bus,
    batcher: GroupBatcher.make(bus, stats),
    localGroups: options.localGroups,
    subjects,
    attemptTimeoutMs,
    backoff: { ...Retry.clientBackoff, ...options.backoff },
    sessions:
      (options.sessions ?? true)
        ? SessionPool.make(Math.max(1, Math.floor(options.sessionWindow ?? 32)))
        : undefined,
    replicaReads: options.staleReadsFromReplicas ?? true,
    shardMap,
    stats,
    keyspaceOf: (kind, explicit) =>
      explicit ?? options.keyspaceOf?.(kind) ?? ShardMapIndex.keyspaceFor(shardMap.view(), kind),
  }
  const deadline = (o: CallOptions | undefined) => deadlineOf(o, defaultDeadlineMs)
  const refresh: RouterService["refresh"] = (o) =>
    Effect.flatMap(Effect.zip(deadline(o), Clock.currentTimeMillis), ([deadlineMs, now]) =>
      shardMap.refresh(core.backoff, now + deadlineMs),
    )
  const currentMap: RouterService["shardMap"] = (o) =>
    Effect.suspend(() => (shardMap.view().version > 0 ? Effect.succeed(shardMap.view()) : refresh(o)))
  return {
    cluster: options.cluster,
    subjects,
    call: (c, o) => withDeadlineOf(o, defaultDeadlineMs, (deadlineMs) => callOne(core, c, o, deadlineMs)),
    scan: (kind, range, o) =>
      Effect.flatMap(deadline(o), (deadlineMs) =>
        scanAll(core, { shardMap: currentMap, refresh }, kind, range, o, deadlineMs),
      ),
    shardMap: currentMap,
    refresh,
    meta: (request, o) =>
      Effect.flatMap(deadline(o), (deadlineMs) =>
        MetaClient.request(metaEndpoint, core.backoff, request, deadlineMs),
      ),
    stats: Effect.sync(() => ({ ...stats })),
    sessionsOpen: () => core.sessions?.live() ?? 0,
  }
}

/** `RouterService.call`. */
const callOne = (
  core: RouterCore,
  c: EntityCall,
  o: CallOptions | undefined,
  deadlineMs: number,
): Effect.Effect<Uint8Array, CallError> => {
  core.stats.calls++
  return route(core, {
    operation: `${c.kind}.${c.operation}`,
    kind: c.kind,
    keyspace: o?.keyspace,
    slot: c.slot,
    ...(c.type === "command" ? { command: c } : { bytes: encodeCall(c), staleRead: c.staleRead }),
    deadlineMs,
  })
}

/**
 * `RouterService.scan`: the same scan request to every shard of the keyspace, in parallel,
 * within one deadline; refreshes the shard map once when it does not have the keyspace.
 */
const scanAll = (
  core: RouterCore,
  maps: Pick<RouterService, "shardMap" | "refresh">,
  kind: string,
  range: Wire.ScanRange,
  o: (CallOptions & { readonly staleRead?: boolean }) | undefined,
  deadlineMs: number,
): Effect.Effect<ReadonlyArray<Uint8Array>, CallError> =>
  Effect.gen(function* () {
    core.stats.calls++
    const started = yield* Clock.currentTimeMillis
    const left = Effect.map(Clock.currentTimeMillis, (now) => Math.max(1, deadlineMs - (now - started)))
    let map = yield* maps.shardMap({ deadline: deadlineMs })
    let keyspace = core.keyspaceOf(kind, o?.keyspace)
    let groups = ShardMapIndex.groupsOf(map, keyspace)
    if (groups === undefined) {
      map = yield* maps.refresh({ deadline: yield* left })
      keyspace = core.keyspaceOf(kind, o?.keyspace)
      groups = ShardMapIndex.groupsOf(map, keyspace)
    }
    if (groups === undefined)
      return yield* Effect.fail(
        new Unavailable({
          operation: `${kind}.Scan`,
          attempts: 0,
          reason: `the shard map (version ${map.version}) has no keyspace "${keyspace}" for kind "${kind}"`,
        }),
      )
    const staleRead = o?.staleRead === true
    const bytes = Wire.encodeRequest({ type: "scan", kind, range }, { staleRead })
    const remainingMs = yield* left
    return yield* Effect.forEach(
      groups,
      (group) =>
        route(core, {
          operation: `${kind}.Scan`,
          kind,
          keyspace,
          group,
          bytes,
          staleRead,
          deadlineMs: remainingMs,
        }),
      { concurrency: 16 },
    )
  })

/** The router over the `Bus` in context. */
export const layer = (options: RouterOptions): Layer.Layer<Router, never, Bus> =>
  Layer.effect(Router, make(options))

/** Options of `layerNats`: the router's and the NATS connection's. */
export interface NatsRouterOptions extends RouterOptions {
  readonly nats: NatsConnection.NatsConnectionOptions
}

/** The router over its own NATS connection (closed when the layer's scope closes). */
export const layerNats = (
  options: NatsRouterOptions,
): Layer.Layer<Router, NatsConnection.NatsConnectionError> =>
  layer(options).pipe(
    Layer.provide(busLayerNats),
    Layer.provide(NatsConnection.layer({ name: `flotilla-client-${options.cluster}`, ...options.nats })),
  )
