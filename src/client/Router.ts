/**
 * The routing core every Flotilla client shares (`KvClient`, the entity sender, the Promise
 * client, the KV gateway): it finds the shard of a request, sends it to that shard's group
 * subject over the `Bus` (NATS or in-process), and retries until a shard answers or the
 * caller's deadline passes.
 *
 * - SHARD MAP: fetched from the metadata group and cached by version (MapCache.ts), refreshed
 *   when a request says it may be stale: "no responders" on a group subject, `NotLeader`,
 *   `GroupNotFound`, and `WrongShard` (forced).
 * - REQUESTS go to `<prefix>.<c>.group.<gid>`, where only the group's leader listens.
 * - RETRIES: "no responders", `NotLeader`, `Overloaded`, `ProposalFailed`, `WrongShard`, ... are
 *   retried after an exponential backoff with full jitter (Backoff.ts); a request without a
 *   reply within `attemptTimeout` is resent; all within the call's deadline.
 * - EXACTLY ONCE: a command is stamped ONCE with a session of its shard (opened on first use,
 *   one per shard and kind) and a sequence number, and EVERY RETRY RESENDS THE SAME BYTES, so
 *   the shard applies it at most once (docs/entities.md). A session the shard no longer knows
 *   (`SessionExpired`) is replaced and the command restamped, unless an earlier attempt may
 *   have been applied: the outcome is then unknown and the call fails with `Timeout`.
 * - STALE READS (`staleRead`) go first to the shard's replicas, in random order, through their
 *   nodes' admin endpoints (`{"op":"read","stale":true}`), so any replica answers, followers
 *   included, even while the shard has no leader; when none answers, the read takes the
 *   leader's path (the group subject, without the ReadIndex round).
 * - FAILURES: `Unavailable` when nothing can have taken effect, `Timeout` when a request went
 *   unanswered (ClientErrors.ts). A reply from a shard (success, declared failure or
 *   `EntityError`) is returned as it is, for the caller to decode.
 *
 * The deadline of a call is its `deadline` option, else the fiber's `withDeadline`, else the
 * router's default.
 */
import {
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Either,
  FiberRef,
  Layer,
  Option,
  Random,
  Schema,
} from "effect"
import type { MetaReply, MetaRequest } from "../meta/MetaProtocol.js"
import { type GroupId, nodeOfReplica } from "../raft/Ids.js"
import { type EntityCall, encodeCall } from "../runtime/entity/EntityClient.js"
import * as Wire from "../runtime/entity/Wire.js"
import { Bus, type BusService, layerNats as busLayerNats } from "../transport/Bus.js"
import * as NatsConnection from "../transport/NatsConnection.js"
import { type ClusterSubjects, clusterSubjects } from "../transport/Subjects.js"
import { type BackoffSettings, defaultBackoff, delay } from "./Backoff.js"
import { type CallError, Timeout, Unavailable } from "./ClientErrors.js"
import { ClientSession } from "./ClientSession.js"
import * as MapCache from "./MapCache.js"
import * as ShardMapView from "./ShardMapView.js"
import { verdictOf } from "./Verdict.js"

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
  /** The keyspace of an entity kind (default: the keyspace running it, `ShardMapView.keyspaceFor`). */
  readonly keyspaceOf?: (kind: string) => string
  /**
   * Stale reads try a random replica through its node's admin endpoint first (default true;
   * false where clients may not use the admin subjects: stale reads then go to the leader).
   */
  readonly staleReadsFromReplicas?: boolean
}

/** Per-call options. */
export interface CallOptions {
  /** Give up after this long (default: `withDeadline`, else the router's default). */
  readonly deadline?: Duration.DurationInput
  /** The keyspace to route to (default: the keyspace of the call's kind). */
  readonly keyspace?: string
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
  /** Stale reads answered by a replica through its node's admin endpoint. */
  readonly replicaReads: number
  /** Requests to the metadata group for the shard map. */
  readonly mapFetches: number
  /** The cached shard map's version. */
  readonly mapVersion: number
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
  readonly shardMap: (options?: CallOptions) => Effect.Effect<ShardMapView.ShardMapView, CallError>
  /** Asks the metadata group for a newer shard map now. */
  readonly refresh: (options?: CallOptions) => Effect.Effect<ShardMapView.ShardMapView, CallError>
  /**
   * A request to the metadata endpoint (docs/protocol.md), retried while no metadata leader
   * answers or the answer is a runtime error; the first definitive answer.
   */
  readonly meta: (request: MetaRequest, options?: CallOptions) => Effect.Effect<MetaReply, CallError>
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

const ms = (d: Duration.DurationInput) => Duration.toMillis(Duration.decode(d))

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder()

/** The admin endpoint's answer to `read` (src/node/NodeAdmin.ts). */
const decodeAdminRead = Schema.decodeUnknownEither(
  Schema.parseJson(
    Schema.Union(
      Schema.Struct({ ok: Schema.Literal(true), reply: Schema.String }),
      Schema.Struct({ ok: Schema.Literal(false) }),
    ),
  ),
)

type MutableStats = { -readonly [K in keyof RouterStats]: RouterStats[K] }

/** One routed request: where it goes and how its bytes are made. */
interface Spec {
  readonly operation: string
  /** The entity kind (its keyspace comes from the shard map)... */
  readonly kind: string
  /** ...unless named here. */
  readonly keyspace: string | undefined
  /** Route by slot through the shard map... */
  readonly slot?: number
  /** ...or straight to a group. */
  readonly group?: GroupId
  /** Fixed request bytes (reads, session opens, commands without sessions). */
  readonly bytes?: Uint8Array
  /** A command to stamp with a session of its shard. */
  readonly command?: EntityCall
  /** A stale read: try a random replica first. */
  readonly staleRead?: boolean
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
  Effect.map(Bus, (bus) => makeWith(bus, options))

/** A router over `bus`. THROWS `InvalidSubjectName` on a bad cluster name or prefix. */
export const makeWith = (bus: BusService, options: RouterOptions): RouterService => {
  const subjects = clusterSubjects(options.cluster, options.subjectPrefix)
  const defaultDeadlineMs = ms(options.deadline ?? "10 seconds")
  const attemptTimeoutMs = Math.max(1, ms(options.attemptTimeout ?? "3 seconds"))
  const backoff: BackoffSettings = { ...defaultBackoff, ...options.backoff }
  const useSessions = options.sessions ?? true
  const window = Math.max(1, Math.floor(options.sessionWindow ?? 32))
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
    replicaReads: 0,
    mapFetches: 0,
    mapVersion: 0,
  }
  const cache = MapCache.make(bus, subjects.meta, attemptTimeoutMs, backoff, stats)
  const replicaReads = options.staleReadsFromReplicas ?? true
  const nowMs = Clock.currentTimeMillis
  const keyspaceOf = (kind: string, explicit: string | undefined) =>
    explicit ?? options.keyspaceOf?.(kind) ?? ShardMapView.keyspaceFor(cache.view(), kind)

  // ----- sessions: one per (group, kind)
  const sessions = new Map<string, ClientSession>()
  const opening = new Map<string, Deferred.Deferred<ClientSession, CallError>>()

  /** The live session of `kind` in `group`, opening one (once, for all waiters) if needed. */
  const sessionFor = (
    spec: Spec,
    group: GroupId,
    deadlineAt: number,
  ): Effect.Effect<ClientSession, CallError> =>
    Effect.gen(function* () {
      const key = `${group}/${spec.kind}`
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
        const opened = yield* Effect.either(openSession(spec, group, deadlineAt))
        opening.delete(key)
        if (Either.isRight(opened)) sessions.set(key, opened.right)
        yield* Deferred.complete(deferred, opened)
        return yield* opened
      }
    })

  const openSession = (spec: Spec, group: GroupId, deadlineAt: number) =>
    Effect.gen(function* () {
      const operation = `${spec.kind}.OpenSession`
      const reply = yield* route({
        operation,
        kind: spec.kind,
        keyspace: spec.keyspace,
        group,
        bytes: Wire.encodeRequest({ type: "openSession", kind: spec.kind }),
        deadlineMs: deadlineAt - (yield* nowMs),
      })
      const env = Wire.decodeReply(reply)
      if (Either.isRight(env) && env.right.status === Wire.ReplyStatus.Success) {
        const id = env.right.body
        if (typeof id === "number" && Number.isSafeInteger(id) && id > 0) {
          stats.sessionsOpened++
          return new ClientSession(id, window)
        }
      }
      const why = Either.isLeft(env) ? env.left : `status ${env.right.status}`
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

  /**
   * A stale read from a replica of `group` (voter or learner) through its node's admin
   * endpoint, trying them in random order until one answers; none when the map does not list
   * the group or no replica answers.
   */
  const readFromReplica = (group: GroupId, bytes: Uint8Array, deadlineAt: number) =>
    Effect.gen(function* () {
      const nodes = (cache.view().groups.get(group)?.replicas ?? [])
        .filter((r) => r.role !== "joining")
        .map((r) => nodeOfReplica(r.id))
      const request = textEncoder.encode(
        JSON.stringify({ op: "read", group, query: Buffer.from(bytes).toString("base64"), stale: true }),
      )
      while (nodes.length > 0) {
        const remaining = deadlineAt - (yield* nowMs)
        if (remaining <= 0) break
        const node = nodes.splice(Math.floor((yield* Random.next) * nodes.length), 1)[0]!
        const answer = yield* Effect.either(
          bus.request(`${subjects.root}.admin.${node}`, request, {
            timeout: Math.max(1, Math.min(attemptTimeoutMs, remaining)),
          }),
        )
        if (Either.isLeft(answer)) continue
        const reply = decodeAdminRead(textDecoder.decode(answer.right))
        if (Either.isLeft(reply) || reply.right.ok !== true) continue
        stats.replicaReads++
        return Option.some(new Uint8Array(Buffer.from(reply.right.reply, "base64")))
      }
      return Option.none<Uint8Array>()
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
      let triedReplica = !(spec.staleRead === true && replicaReads)
      const giveUp = (why?: string): CallError =>
        uncertain
          ? new Timeout({
              operation: spec.operation,
              deadlineMs: spec.deadlineMs,
              attempts,
              reason: why ?? reason,
            })
          : new Unavailable({ operation: spec.operation, attempts, reason: why ?? reason })
      /** Waits before the next retry; false when the deadline has passed. */
      const pause = Effect.gen(function* () {
        const remaining = deadlineAt - (yield* nowMs)
        if (remaining <= 0) return false
        stats.retries++
        yield* Effect.sleep(delay(backoff, retries++, yield* Random.next, remaining))
        return true
      })

      for (;;) {
        if (deadlineAt - (yield* nowMs) <= 0) return yield* Effect.fail(giveUp())

        // Where does it go?
        let group = spec.group
        if (group === undefined) {
          if (cache.view().version === 0 || forceRefresh) {
            const r = yield* cache.refreshFrom(
              forceRefresh ? cache.view().version : 0,
              forceRefresh,
              deadlineAt,
            )
            forceRefresh = false
            if (Either.isLeft(r)) {
              // Keep what an earlier attempt learnt ("no metadata leader answers") over "too late".
              if (r.left !== MapCache.DEADLINE_PASSED || !reason.startsWith("no shard map"))
                reason = `no shard map: ${r.left}`
              if (!(yield* pause)) return yield* Effect.fail(giveUp())
              continue
            }
          }
          const keyspace = keyspaceOf(spec.kind, spec.keyspace)
          group = ShardMapView.groupOfSlot(cache.view(), keyspace, spec.slot ?? 0)
          if (group === undefined) {
            reason = `the shard map (version ${cache.view().version}) has no keyspace "${keyspace}" for kind "${spec.kind}"`
            forceRefresh = true
            if (!(yield* pause)) return yield* Effect.fail(giveUp())
            continue
          }
        }

        // A stale read: any replica may answer (tried once per call).
        if (!triedReplica && spec.bytes !== undefined) {
          triedReplica = true
          const read = yield* readFromReplica(group, spec.bytes, deadlineAt)
          if (Option.isSome(read) && verdictOf(read.value)._tag === "Done") return read.value
        }

        // Which bytes?
        let bytes: Uint8Array
        const command = spec.command
        if (command !== undefined && useSessions) {
          if (stamp !== undefined && (stamp.group !== group || stamp.session.dead)) release()
          if (stamp === undefined) {
            const session = yield* sessionFor(spec, group, deadlineAt).pipe(
              Effect.mapError((e) => giveUp(e.reason)),
            )
            const ticket = yield* take(session, deadlineAt)
            if (ticket === undefined) {
              if (session.dead) continue
              return yield* Effect.fail(giveUp(`the session window of ${window} commands stayed full`))
            }
            const bytes = encodeCall(command, { session: session.id, ...ticket })
            stamp = { group, session, seq: ticket.seq, bytes }
          }
          bytes = stamp.bytes
        } else bytes = spec.bytes ?? encodeCall(command!)

        // Send it.
        attempts++
        stats.attempts++
        const left = deadlineAt - (yield* nowMs)
        const wait = Math.max(1, Math.min(attemptTimeoutMs, left))
        const sent = yield* Effect.either(bus.request(subjects.group(group), bytes, { timeout: wait }))
        if (Either.isLeft(sent)) {
          const e = sent.left
          if (e._tag === "NoResponders") {
            stats.noResponders++
            reason = `no leader answers for group ${group}`
            if (spec.group === undefined) yield* cache.refreshFrom(cache.view().version, false, deadlineAt)
          } else if (e._tag === "RequestTimeout") {
            stats.requestTimeouts++
            uncertain = true
            reason = `group ${group} did not answer within ${wait} ms`
          } else return yield* Effect.fail(giveUp(e.message))
          if (!(yield* pause)) return yield* Effect.fail(giveUp())
          continue
        }

        const reply = sent.right
        const verdict = verdictOf(reply)
        switch (verdict._tag) {
          case "Done":
            return reply
          case "SessionExpired":
            stats.sessionsExpired++
            if (stamp === undefined) return reply
            stamp.session.kill()
            release()
            if (uncertain)
              return yield* Effect.fail(
                giveUp("the session expired after an unanswered attempt, so the outcome is unknown"),
              )
            continue
          case "RetryUncertain":
            if (command !== undefined) uncertain = true
            reason = verdict.reason
            break
          case "Retry":
            reason = verdict.reason
            if (verdict.error === "NotLeader") stats.notLeader++
            else if (verdict.error === "WrongShard") stats.wrongShard++
            else if (verdict.error === "Overloaded") stats.overloaded++
            if (verdict.stale === "forced") forceRefresh = true
            else if (verdict.stale === "maybe" && spec.group === undefined)
              yield* cache.refreshFrom(cache.view().version, false, deadlineAt)
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

  const refresh: RouterService["refresh"] = (o) =>
    Effect.gen(function* () {
      const deadlineMs = yield* deadlineOf(o)
      const deadlineAt = (yield* nowMs) + deadlineMs
      const seen = cache.view().version
      let attempts = 0
      for (let retry = 0; ; retry++) {
        attempts++
        const r = yield* cache.refreshFrom(seen, true, deadlineAt)
        if (Either.isRight(r)) return r.right
        const remaining = deadlineAt - (yield* nowMs)
        if (remaining <= 0)
          return yield* Effect.fail(
            new Unavailable({ operation: "meta.GetShardMap", attempts, reason: r.left }),
          )
        yield* Effect.sleep(delay(backoff, retry, yield* Random.next, remaining))
      }
    })

  const shardMap: RouterService["shardMap"] = (o) =>
    Effect.suspend(() => (cache.view().version > 0 ? Effect.succeed(cache.view()) : refresh(o)))

  return {
    cluster: options.cluster,
    subjects,
    call: (c, o) =>
      Effect.gen(function* () {
        stats.calls++
        return yield* route({
          operation: `${c.kind}.${c.operation}`,
          kind: c.kind,
          keyspace: o?.keyspace,
          slot: c.slot,
          ...(c.type === "command" ? { command: c } : { bytes: encodeCall(c), staleRead: c.staleRead }),
          deadlineMs: yield* deadlineOf(o),
        })
      }),
    scan: (kind, range, o) =>
      Effect.gen(function* () {
        stats.calls++
        const deadlineMs = yield* deadlineOf(o)
        const started = yield* nowMs
        const elapsed = Effect.map(nowMs, (now) => Math.max(1, deadlineMs - (now - started)))
        let map = yield* shardMap({ deadline: deadlineMs })
        let keyspace = keyspaceOf(kind, o?.keyspace)
        let groups = ShardMapView.groupsOf(map, keyspace)
        if (groups === undefined) {
          map = yield* refresh({ deadline: yield* elapsed })
          keyspace = keyspaceOf(kind, o?.keyspace)
          groups = ShardMapView.groupsOf(map, keyspace)
        }
        if (groups === undefined)
          return yield* Effect.fail(
            new Unavailable({
              operation: `${kind}.Scan`,
              attempts: 0,
              reason: `the shard map (version ${map.version}) has no keyspace "${keyspace}" for kind "${kind}"`,
            }),
          )
        const bytes = Wire.encodeRequest({ type: "scan", kind, range }, { staleRead: o?.staleRead === true })
        const left = yield* elapsed
        return yield* Effect.forEach(
          groups,
          (group) =>
            route({
              operation: `${kind}.Scan`,
              kind,
              keyspace,
              group,
              bytes,
              staleRead: o?.staleRead === true,
              deadlineMs: left,
            }),
          { concurrency: 16 },
        )
      }),
    shardMap,
    refresh,
    meta: (request, o) => Effect.flatMap(deadlineOf(o), (deadlineMs) => cache.meta(request, deadlineMs)),
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
