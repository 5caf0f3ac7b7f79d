/**
 * The routing core every Flotilla client shares (`KvClient`, the entity sender, the Promise
 * client, the KV gateway): it finds the shard of a request, sends it to that shard's group
 * subject over the `Bus` (NATS or in-process), and retries until a shard answers or the
 * caller's deadline passes.
 *
 * - SHARD MAP: fetched from the metadata group (`GetShardMap` on `<prefix>.<c>.meta`), cached
 *   by version, refreshed with `knownVersion` (a current cache costs a `NotModified`) when a
 *   request says the map may be stale: "no responders" on a group subject, `NotLeader`,
 *   `GroupNotFound`, `WrongShard` (forced). One refresh runs at a time; others wait for it.
 * - REQUESTS go to `<prefix>.<c>.group.<gid>`, where only the group's leader listens.
 * - RETRIES: "no responders", `NotLeader`, `Overloaded`, `ProposalFailed`, `WrongShard`, ... are
 *   retried after an exponential backoff with full jitter (Backoff.ts), a request without a
 *   reply within `attemptTimeout` is resent, all within the call's deadline.
 * - EXACTLY ONCE: a command is stamped ONCE with a session of its shard (opened on first use,
 *   one per shard and kind) and a sequence number, and EVERY RETRY RESENDS THE SAME BYTES, so
 *   the shard applies it at most once (docs/entities.md). A session the shard no longer knows
 *   (`SessionExpired`) is replaced and the command restamped, unless an earlier attempt may
 *   have been applied: the outcome is then unknown and the call fails with `Timeout`.
 * - FAILURES: `Unavailable` when nothing can have taken effect, `Timeout` when a request went
 *   unanswered (see ClientErrors.ts). A reply from a shard (success, declared failure or
 *   `EntityError`) is returned as it is, for the caller to decode.
 *
 * The deadline of a call is its `deadline` option, else the fiber's `withDeadline`, else the
 * router's default.
 */
import { Clock, Context, Deferred, Duration, Effect, Either, FiberRef, Layer, Option, Random } from "effect"
import type { GroupId } from "../raft/Ids.js"
import { type EntityCall, encodeCall } from "../runtime/entity/EntityClient.js"
import * as Wire from "../runtime/entity/Wire.js"
import { Bus, type BusService, layerNats as busLayerNats } from "../transport/Bus.js"
import * as NatsConnection from "../transport/NatsConnection.js"
import { type ClusterSubjects, clusterSubjects } from "../transport/Subjects.js"
import { type BackoffSettings, defaultBackoff, delay } from "./Backoff.js"
import { type CallError, Timeout, Unavailable } from "./ClientErrors.js"
import { ClientSession } from "./ClientSession.js"
import * as MetaClient from "./MetaClient.js"
import * as ShardMapView from "./ShardMapView.js"

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
  /** Backoff between retries (default 10 ms doubling to 500 ms, full jitter). */
  readonly backoff?: Partial<BackoffSettings>
  /** Exactly-once sessions for commands (default true; false sends session 0: at least once). */
  readonly sessions?: boolean
  /** Commands in flight per session, below the shards' `maxPending` (default 32). */
  readonly sessionWindow?: number
  /** The keyspace of an entity kind (default `ShardMapView.keyspaceOfKind`). */
  readonly keyspaceOf?: (kind: string) => string
}

/** Per-call options. */
export interface CallOptions {
  /** Give up after this long (default: `withDeadline`, else the router's default). */
  readonly deadline?: Duration.DurationInput
}

/** Counters since the router started (for tests, `bench` and `status`). */
export interface RouterStats {
  /** Calls made (each counts once however many attempts it took). */
  readonly calls: number
  /** Requests sent to group subjects. */
  readonly attempts: number
  /** Waits before a retry. */
  readonly retries: number
  readonly noResponders: number
  readonly notLeader: number
  readonly wrongShard: number
  readonly overloaded: number
  /** Requests that went unanswered within `attemptTimeout`. */
  readonly requestTimeouts: number
  readonly sessionsOpened: number
  readonly sessionsExpired: number
  /** Requests to the metadata group for the shard map. */
  readonly mapFetches: number
  /** The cached shard map's version. */
  readonly mapVersion: number
}

/** The routing core. */
export interface RouterService {
  readonly cluster: string
  readonly subjects: ClusterSubjects
  /** The keyspace hosting an entity kind. */
  readonly keyspaceOf: (kind: string) => string
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
  readonly shardMap: (options?: CallOptions) => Effect.Effect<ShardMapView.ShardMapView, CallError>
  /** Asks the metadata group for a newer shard map now. */
  readonly refresh: (options?: CallOptions) => Effect.Effect<ShardMapView.ShardMapView, CallError>
  /** A raw request to the metadata endpoint, retried while nobody listens (no leader yet). */
  readonly meta: (request: Uint8Array, options?: CallOptions) => Effect.Effect<Uint8Array, CallError>
  readonly stats: Effect.Effect<RouterStats>
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

/** Shard map refreshes not forced by `WrongShard` are at least this far apart. */
const MIN_REFRESH_INTERVAL_MS = 50

const ms = (d: Duration.DurationInput) => Duration.toMillis(Duration.decode(d))

/** What a reply asks the router to do. */
type Verdict =
  | { readonly _tag: "Done" }
  | { readonly _tag: "Retry"; readonly reason: string; readonly stale: "no" | "maybe" | "forced" }
  /** Retry, and the command may have been applied already (its waiter was failed). */
  | { readonly _tag: "RetryUncertain"; readonly reason: string }
  | { readonly _tag: "SessionExpired" }

/** Classifies a shard reply by its status byte, decoding only runtime and session errors. */
const verdictOf = (reply: Uint8Array, stats: MutableStats): Verdict => {
  if (reply.length < 2 || reply[0] !== Wire.VERSION) return { _tag: "Done" }
  const status = reply[1]
  if (status === Wire.ReplyStatus.SystemError) {
    const env = Wire.decodeReply(reply)
    if (Either.isLeft(env)) return { _tag: "Done" }
    const err = Wire.decodeEntityErrorBody(env.right.body)
    if (Either.isLeft(err)) return { _tag: "Done" }
    if (err.right._tag === "SessionExpired") return { _tag: "SessionExpired" }
    if (err.right._tag === "TooManyPending")
      return { _tag: "Retry", reason: "the session holds too many unacknowledged replies", stale: "no" }
    return { _tag: "Done" }
  }
  if (status !== Wire.ReplyStatus.RuntimeError) return { _tag: "Done" }
  const env = Wire.decodeReply(reply)
  if (Either.isLeft(env)) return { _tag: "Done" }
  const err = Wire.decodeRuntimeErrorBody(env.right.body)
  if (Either.isLeft(err)) return { _tag: "Done" }
  const e = err.right
  switch (e._tag) {
    case "NotLeader":
      stats.notLeader++
      return { _tag: "Retry", reason: e.message, stale: "maybe" }
    case "GroupNotFound":
      return { _tag: "Retry", reason: e.message, stale: "maybe" }
    case "WrongShard":
      stats.wrongShard++
      return { _tag: "Retry", reason: e.message, stale: "forced" }
    case "Overloaded":
      stats.overloaded++
      return { _tag: "Retry", reason: e.message, stale: "no" }
    case "ProposalFailed":
      return { _tag: "Retry", reason: e.message, stale: "no" }
    case "NodeStopping":
    case "GroupStopped":
      return { _tag: "RetryUncertain", reason: e.message }
    case "BadRequest":
      return { _tag: "Done" }
  }
}

type MutableStats = { -readonly [K in keyof RouterStats]: RouterStats[K] }

/** One routed request: where it goes and how its bytes are made. */
interface Spec {
  readonly operation: string
  readonly keyspace: string
  /** Route by slot through the shard map... */
  readonly slot?: number
  /** ...or straight to a group. */
  readonly group?: GroupId
  /** Fixed request bytes (reads, session opens, commands without sessions). */
  readonly bytes?: Uint8Array
  /** A command to stamp with a session of its shard. */
  readonly command?: EntityCall
  readonly deadlineMs: number
}

/** A command stamped for one group: the bytes every retry resends. */
interface Stamp {
  readonly group: GroupId
  readonly session: ClientSession
  readonly seq: number
  readonly bytes: Uint8Array
}

/** Builds a router over the `Bus` in context. */
export const make = (options: RouterOptions): Effect.Effect<RouterService, never, Bus> =>
  Effect.gen(function* () {
    const bus = yield* Bus
    return makeWith(bus, options)
  })

/** A router over `bus`. THROWS `InvalidSubjectName` on a bad cluster name or prefix. */
export const makeWith = (bus: BusService, options: RouterOptions): RouterService => {
  const subjects = clusterSubjects(options.cluster, options.subjectPrefix)
  const defaultDeadlineMs = ms(options.deadline ?? "10 seconds")
  const attemptTimeoutMs = Math.max(1, ms(options.attemptTimeout ?? "3 seconds"))
  const backoff: BackoffSettings = { ...defaultBackoff, ...options.backoff }
  const useSessions = options.sessions ?? true
  const window = Math.max(1, Math.floor(options.sessionWindow ?? 32))
  const keyspaceOf = options.keyspaceOf ?? ShardMapView.keyspaceOfKind
  const stats: MutableStats = {
    calls: 0,
    attempts: 0,
    retries: 0,
    noResponders: 0,
    notLeader: 0,
    wrongShard: 0,
    overloaded: 0,
    requestTimeouts: 0,
    sessionsOpened: 0,
    sessionsExpired: 0,
    mapFetches: 0,
    mapVersion: 0,
  }

  // ----- the shard map cache
  let view: ShardMapView.ShardMapView = ShardMapView.empty
  let lastFetchAt = Number.NEGATIVE_INFINITY
  const mapLock = Effect.unsafeMakeSemaphore(1)

  /** One request for the shard map; `Left(reason)` when the metadata group did not answer it. */
  const fetchMap = (deadlineAt: number) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const remaining = deadlineAt - now
      if (remaining <= 0) return Either.left("the deadline passed before the shard map was fetched")
      lastFetchAt = now
      stats.mapFetches++
      const answer = yield* Effect.either(
        bus.request(subjects.meta, MetaClient.getShardMapRequest(view.version), {
          timeout: Math.max(1, Math.min(attemptTimeoutMs, remaining)),
        }),
      )
      if (Either.isLeft(answer)) {
        const e = answer.left
        return Either.left(
          e._tag === "NoResponders" ? "no metadata leader answers on the metadata subject" : e.message,
        )
      }
      const decoded = MetaClient.decodeShardMapAnswer(answer.right)
      if (Either.isLeft(decoded)) return Either.left(decoded.left)
      if (decoded.right._tag === "ShardMap" && decoded.right.map.version >= view.version) {
        view = ShardMapView.fromShardMap(decoded.right.map)
        stats.mapVersion = view.version
      }
      return Either.right(view)
    })

  /**
   * A newer map than version `seen`, unless one arrived meanwhile or (not `forced`) the last
   * fetch was very recent. Never fails: on trouble the current view stays.
   */
  const refreshFrom = (seen: number, forced: boolean, deadlineAt: number) =>
    mapLock.withPermits(1)(
      Effect.gen(function* () {
        if (view.version > seen) return Either.right(view)
        const now = yield* Clock.currentTimeMillis
        if (!forced && view.version > 0 && now - lastFetchAt < MIN_REFRESH_INTERVAL_MS)
          return Either.right(view)
        return yield* fetchMap(deadlineAt)
      }),
    )

  // ----- sessions: one per (group, kind)
  const sessions = new Map<string, ClientSession>()
  const opening = new Map<string, Deferred.Deferred<ClientSession, CallError>>()

  const nowMs = Clock.currentTimeMillis

  /** The live session of `kind` in `group`, opening one (once, for all waiters) if needed. */
  const sessionFor = (
    group: GroupId,
    kind: string,
    keyspace: string,
    deadlineAt: number,
  ): Effect.Effect<ClientSession, CallError> =>
    Effect.gen(function* () {
      const key = `${group}/${kind}`
      for (;;) {
        const existing = sessions.get(key)
        if (existing !== undefined && !existing.dead) return existing
        const pending = opening.get(key)
        if (pending !== undefined) {
          const r = yield* Effect.either(Deferred.await(pending))
          if (Either.isRight(r)) return r.right
          if ((yield* nowMs) >= deadlineAt) return yield* Effect.fail(r.left)
          continue
        }
        const deferred = yield* Deferred.make<ClientSession, CallError>()
        opening.set(key, deferred)
        const opened = yield* Effect.either(openSession(group, kind, keyspace, deadlineAt))
        opening.delete(key)
        if (Either.isRight(opened)) sessions.set(key, opened.right)
        yield* Deferred.complete(deferred, opened)
        return yield* opened
      }
    })

  const openSession = (group: GroupId, kind: string, keyspace: string, deadlineAt: number) =>
    Effect.gen(function* () {
      const operation = `${kind}.OpenSession`
      const remaining = deadlineAt - (yield* nowMs)
      const reply = yield* route({
        operation,
        keyspace,
        group,
        bytes: Wire.encodeRequest({ type: "openSession", kind }),
        deadlineMs: remaining,
      })
      const env = Wire.decodeReply(reply)
      if (
        Either.isRight(env) &&
        env.right.status === Wire.ReplyStatus.Success &&
        typeof env.right.body === "number" &&
        Number.isSafeInteger(env.right.body) &&
        env.right.body > 0
      ) {
        stats.sessionsOpened++
        return new ClientSession(env.right.body, window)
      }
      const why = Either.isLeft(env)
        ? env.left
        : `status ${env.right.status}: ${JSON.stringify(env.right.body)}`
      return yield* Effect.fail(
        new Unavailable({ operation, attempts: 1, reason: `group ${group} did not open a session (${why})` }),
      )
    })

  /** Takes a sequence number of `session`, waiting for room in its window until the deadline. */
  const take = (session: ClientSession, deadlineAt: number) =>
    Effect.gen(function* () {
      for (;;) {
        if (session.dead) return undefined
        const ticket = session.tryTake()
        if (ticket !== undefined) return ticket
        const remaining = deadlineAt - (yield* nowMs)
        if (remaining <= 0) return undefined
        yield* Effect.async<void>((resume) => session.onRoom(() => resume(Effect.void))).pipe(
          Effect.timeoutOption(remaining),
        )
      }
    })

  // ----- the retry loop
  const route = (spec: Spec): Effect.Effect<Uint8Array, CallError> => {
    let stamp: Stamp | undefined
    const release = () => {
      if (stamp !== undefined) stamp.session.finish(stamp.seq)
      stamp = undefined
    }
    const loop = Effect.gen(function* () {
      const deadlineAt = (yield* nowMs) + spec.deadlineMs
      let attempts = 0
      let retries = 0
      let uncertain = false
      let reason = "the deadline passed before any request was sent"
      let forceRefresh = false
      const giveUp = (why?: string): CallError =>
        uncertain
          ? new Timeout({
              operation: spec.operation,
              deadlineMs: spec.deadlineMs,
              attempts,
              reason: why ?? reason,
            })
          : new Unavailable({ operation: spec.operation, attempts, reason: why ?? reason })
      const pause = Effect.gen(function* () {
        const remaining = deadlineAt - (yield* nowMs)
        if (remaining <= 0) return false
        const draw = yield* Random.next
        stats.retries++
        yield* Effect.sleep(delay(backoff, retries++, draw, remaining))
        return true
      })

      for (;;) {
        const remaining = deadlineAt - (yield* nowMs)
        if (remaining <= 0) return yield* Effect.fail(giveUp())

        // Where does it go?
        let group = spec.group
        if (group === undefined) {
          const needFetch = view.version === 0 || forceRefresh
          if (needFetch) {
            const r = yield* refreshFrom(forceRefresh ? view.version : 0, forceRefresh, deadlineAt)
            forceRefresh = false
            if (Either.isLeft(r)) {
              reason = `no shard map: ${r.left}`
              if (!(yield* pause)) return yield* Effect.fail(giveUp())
              continue
            }
          }
          group = ShardMapView.groupOfSlot(view, spec.keyspace, spec.slot ?? 0)
          if (group === undefined) {
            reason = `the shard map (version ${view.version}) has no keyspace "${spec.keyspace}" covering slot ${spec.slot}`
            forceRefresh = true
            if (!(yield* pause)) return yield* Effect.fail(giveUp())
            continue
          }
        }

        // Which bytes?
        let bytes: Uint8Array
        const command = spec.command
        if (command !== undefined && useSessions) {
          if (stamp !== undefined && (stamp.group !== group || stamp.session.dead)) release()
          if (stamp === undefined) {
            const session = yield* sessionFor(group, command.kind, spec.keyspace, deadlineAt).pipe(
              Effect.mapError((e) => giveUp(e.reason)),
            )
            const ticket = yield* take(session, deadlineAt)
            if (ticket === undefined) {
              if (session.dead) continue
              return yield* Effect.fail(giveUp(`session window of ${window} commands stayed full`))
            }
            stamp = {
              group,
              session,
              seq: ticket.seq,
              bytes: encodeCall(command, { session: session.id, ...ticket }),
            }
          }
          bytes = stamp.bytes
        } else if (command !== undefined) {
          bytes = spec.bytes ?? encodeCall(command)
        } else {
          bytes = spec.bytes!
        }

        // Send it.
        attempts++
        stats.attempts++
        const left = deadlineAt - (yield* nowMs)
        const sent = yield* Effect.either(
          bus.request(subjects.group(group), bytes, {
            timeout: Math.max(1, Math.min(attemptTimeoutMs, left)),
          }),
        )
        if (Either.isLeft(sent)) {
          const e = sent.left
          switch (e._tag) {
            case "NoResponders":
              stats.noResponders++
              reason = `no leader answers for group ${group}`
              if (spec.group === undefined) {
                const seen = view.version
                yield* refreshFrom(seen, false, deadlineAt)
              }
              break
            case "RequestTimeout":
              stats.requestTimeouts++
              uncertain = true
              reason = `group ${group} did not answer within ${Math.min(attemptTimeoutMs, left)} ms`
              break
            default:
              return yield* Effect.fail(giveUp(e.message))
          }
          if (!(yield* pause)) return yield* Effect.fail(giveUp())
          continue
        }

        const reply = sent.right
        const verdict = verdictOf(reply, stats)
        switch (verdict._tag) {
          case "Done":
            return reply
          case "SessionExpired": {
            stats.sessionsExpired++
            if (stamp === undefined) return reply
            stamp.session.kill()
            release()
            if (uncertain)
              return yield* Effect.fail(
                giveUp("the session expired after an unanswered attempt, so the outcome is unknown"),
              )
            continue
          }
          case "RetryUncertain":
            if (command !== undefined) uncertain = true
            reason = verdict.reason
            break
          case "Retry":
            reason = verdict.reason
            if (verdict.stale === "forced") forceRefresh = true
            else if (verdict.stale === "maybe" && spec.group === undefined)
              yield* refreshFrom(view.version, false, deadlineAt)
            break
        }
        if (!(yield* pause)) return yield* Effect.fail(giveUp())
      }
    })
    return Effect.ensuring(
      loop,
      Effect.sync(() => release()),
    )
  }

  const deadlineOf = (options: CallOptions | undefined) =>
    Effect.map(FiberRef.get(currentDeadline), (fromFiber) =>
      options?.deadline !== undefined
        ? ms(options.deadline)
        : Option.isSome(fromFiber)
          ? Duration.toMillis(fromFiber.value)
          : defaultDeadlineMs,
    )

  const call: RouterService["call"] = (c, options) =>
    Effect.gen(function* () {
      stats.calls++
      const deadlineMs = yield* deadlineOf(options)
      return yield* route({
        operation: `${c.kind}.${c.operation}`,
        keyspace: keyspaceOf(c.kind),
        slot: c.slot,
        ...(c.type === "command" ? { command: c } : { bytes: encodeCall(c) }),
        deadlineMs,
      })
    })

  const shardMap: RouterService["shardMap"] = (options) =>
    Effect.gen(function* () {
      if (view.version > 0) return view
      return yield* refresh(options)
    })

  const refresh: RouterService["refresh"] = (options) =>
    Effect.gen(function* () {
      const deadlineMs = yield* deadlineOf(options)
      const deadlineAt = (yield* nowMs) + deadlineMs
      let attempts = 0
      let retries = 0
      const seen = view.version
      for (;;) {
        attempts++
        const r = yield* refreshFrom(seen, true, deadlineAt)
        if (Either.isRight(r)) return r.right
        const remaining = deadlineAt - (yield* nowMs)
        if (remaining <= 0)
          return yield* Effect.fail(new Unavailable({ operation: "GetShardMap", attempts, reason: r.left }))
        const draw = yield* Random.next
        yield* Effect.sleep(delay(backoff, retries++, draw, remaining))
      }
    })

  const scan: RouterService["scan"] = (kind, range, options) =>
    Effect.gen(function* () {
      stats.calls++
      const keyspace = keyspaceOf(kind)
      const deadlineMs = yield* deadlineOf(options)
      const started = yield* nowMs
      let map = yield* shardMap({ deadline: deadlineMs })
      let groups = ShardMapView.groupsOf(map, keyspace)
      if (groups === undefined) {
        map = yield* refresh({ deadline: Math.max(1, deadlineMs - ((yield* nowMs) - started)) })
        groups = ShardMapView.groupsOf(map, keyspace)
      }
      if (groups === undefined)
        return yield* Effect.fail(
          new Unavailable({
            operation: `${kind}.Scan`,
            attempts: 0,
            reason: `the shard map (version ${map.version}) has no keyspace "${keyspace}"`,
          }),
        )
      const bytes = Wire.encodeRequest(
        { type: "scan", kind, range },
        { staleRead: options?.staleRead === true },
      )
      const left = Math.max(1, deadlineMs - ((yield* nowMs) - started))
      return yield* Effect.forEach(
        groups,
        (group) => route({ operation: `${kind}.Scan`, keyspace, group, bytes, deadlineMs: left }),
        { concurrency: 16 },
      )
    })

  const meta: RouterService["meta"] = (request, options) =>
    Effect.gen(function* () {
      const deadlineMs = yield* deadlineOf(options)
      const deadlineAt = (yield* nowMs) + deadlineMs
      let attempts = 0
      let retries = 0
      let uncertain = false
      let reason = "no attempt made"
      for (;;) {
        const remaining = deadlineAt - (yield* nowMs)
        if (remaining <= 0) break
        attempts++
        const r = yield* Effect.either(
          bus.request(subjects.meta, request, {
            timeout: Math.max(1, Math.min(attemptTimeoutMs, remaining)),
          }),
        )
        if (Either.isRight(r)) return r.right
        const e = r.left
        if (e._tag === "RequestTimeout") uncertain = true
        else if (e._tag !== "NoResponders")
          return yield* Effect.fail(new Unavailable({ operation: "meta", attempts, reason: e.message }))
        reason = e._tag === "NoResponders" ? "no metadata leader answers" : e.message
        const left = deadlineAt - (yield* nowMs)
        if (left <= 0) break
        const draw = yield* Random.next
        yield* Effect.sleep(delay(backoff, retries++, draw, left))
      }
      return yield* Effect.fail(
        uncertain
          ? new Timeout({ operation: "meta", deadlineMs, attempts, reason })
          : new Unavailable({ operation: "meta", attempts, reason }),
      )
    })

  return {
    cluster: options.cluster,
    subjects,
    keyspaceOf,
    call,
    scan,
    shardMap,
    refresh,
    meta,
    stats: Effect.sync(() => ({ ...stats })),
  }
}

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
