/**
 * The router's copy of the shard map and its conversations with the metadata endpoint.
 *
 * The map is fetched with `GetShardMap { knownVersion }`: a current cache costs a small
 * `NotModified`. It only moves to newer versions. Refreshes are serialized (one request in
 * flight; callers that wanted a refresh meanwhile take its result) and, unless forced (a
 * `WrongShard` proves the map stale), at most one every `MIN_REFRESH_INTERVAL_MS`, so a burst
 * of "no responders" during an election does not flood the metadata leader.
 */
import { Clock, Effect, Either, Random } from "effect"
import type { MetaReply, MetaRequest } from "../meta/MetaProtocol.js"
import { completeShardMap } from "../meta/ShardMapPages.js"
import type { BusService } from "../transport/Bus.js"
import { type BackoffSettings, delay } from "./Backoff.js"
import { type CallError, Timeout, Unavailable } from "./ClientErrors.js"
import * as MetaClient from "./MetaClient.js"
import * as ShardMapView from "./ShardMapView.js"

/** Refreshes not forced are at least this far apart. */
export const MIN_REFRESH_INTERVAL_MS = 50

/** Why a fetch sent nothing: the caller's deadline had passed already. */
export const DEADLINE_PASSED = "the deadline passed"

/** Counters the cache keeps. */
export interface MapCacheStats {
  mapFetches: number
  mapVersion: number
}

/** Why a request to the metadata endpoint brought no answer. */
interface NoAnswer {
  readonly reason: string
  /** It may have reached the leader (a timeout). */
  readonly uncertain: boolean
  /** Retrying cannot help (the bus is closed, the answer is not a metadata answer). */
  readonly fatal: boolean
}

const not = (reason: string, uncertain: boolean, fatal: boolean): Either.Either<MetaReply, NoAnswer> =>
  Either.left({ reason, uncertain, fatal })

/** The cache. */
export interface MapCache {
  /** The current view (version 0: nothing fetched yet). */
  readonly view: () => ShardMapView.ShardMapView
  /**
   * A view newer than version `seen`, unless one arrived meanwhile or (not `forced`) the last
   * fetch was very recent. Never fails: `Left(reason)` when the metadata group did not answer,
   * and the current view stays.
   */
  readonly refreshFrom: (
    seen: number,
    forced: boolean,
    deadlineAt: number,
  ) => Effect.Effect<Either.Either<ShardMapView.ShardMapView, string>>
  /** A request to the metadata endpoint, retried while nobody leads or a runtime error answers. */
  readonly meta: (request: MetaRequest, deadlineMs: number) => Effect.Effect<MetaReply, CallError>
}

/** A cache over `bus`, asking on `subject`. */
export const make = (
  bus: BusService,
  subject: string,
  attemptTimeoutMs: number,
  backoff: BackoffSettings,
  stats: MapCacheStats,
): MapCache => {
  let view: ShardMapView.ShardMapView = ShardMapView.empty
  let lastFetchAt = Number.NEGATIVE_INFINITY
  const lock = Effect.unsafeMakeSemaphore(1)

  /** One request; `Left(why)` unless a definitive answer came. */
  const ask = (request: Uint8Array, deadlineAt: number) =>
    Effect.gen(function* () {
      const remaining = deadlineAt - (yield* Clock.currentTimeMillis)
      if (remaining <= 0) return not(DEADLINE_PASSED, false, false)
      const sent = yield* Effect.either(
        bus.request(subject, request, { timeout: Math.max(1, Math.min(attemptTimeoutMs, remaining)) }),
      )
      if (Either.isLeft(sent)) {
        const e = sent.left
        if (e._tag === "NoResponders") return not("no metadata leader answers", false, false)
        if (e._tag === "RequestTimeout") return not(e.message, true, false)
        return not(e.message, false, true)
      }
      const answer = MetaClient.classify(sent.right)
      if (Either.isLeft(answer)) return not(answer.left, false, true)
      if (answer.right._tag === "Retry") return not(answer.right.reason, false, false)
      return Either.right(answer.right.reply)
    })

  const fetch = (deadlineAt: number) =>
    Effect.gen(function* () {
      lastFetchAt = yield* Clock.currentTimeMillis
      stats.mapFetches++
      const reply = yield* ask(MetaClient.getShardMapRequest(view.version), deadlineAt)
      if (Either.isLeft(reply)) return Either.left(reply.left.reason)
      const map = MetaClient.shardMapOf(reply.right)
      if (Either.isLeft(map)) return Either.left(map.left)
      if (map.right._tag === "NotModified") return Either.right(view)
      const pageAt = (page: number) =>
        Effect.map(ask(MetaClient.getShardMapRequest(0, page), deadlineAt), (r) =>
          Either.isRight(r) && r.right._tag === "ShardMap" ? r.right : undefined,
        )
      const whole = yield* completeShardMap(map.right.map, pageAt)
      if (whole === undefined) return Either.left("could not read every page of one shard map version")
      if (whole.version >= view.version) {
        view = ShardMapView.fromShardMap(whole)
        stats.mapVersion = view.version
      }
      return Either.right(view)
    })

  return {
    view: () => view,
    refreshFrom: (seen, forced, deadlineAt) =>
      lock.withPermits(1)(
        Effect.gen(function* () {
          if (view.version > seen) return Either.right(view)
          const now = yield* Clock.currentTimeMillis
          if (!forced && view.version > 0 && now - lastFetchAt < MIN_REFRESH_INTERVAL_MS)
            return Either.right(view)
          return yield* fetch(deadlineAt)
        }),
      ),
    meta: (request, deadlineMs) =>
      Effect.gen(function* () {
        const deadlineAt = (yield* Clock.currentTimeMillis) + deadlineMs
        const bytes = MetaClient.requestBytes(request)
        const operation = `meta.${request._tag}`
        let attempts = 0
        let uncertain = false
        let reason = "the deadline passed before any request was sent"
        for (let retry = 0; ; retry++) {
          attempts++
          const r = yield* ask(bytes, deadlineAt)
          if (Either.isRight(r)) return r.right
          reason = r.left.reason
          uncertain ||= r.left.uncertain
          if (r.left.fatal === true)
            return yield* Effect.fail(new Unavailable({ operation, attempts, reason }))
          const remaining = deadlineAt - (yield* Clock.currentTimeMillis)
          if (remaining <= 0) break
          yield* Effect.sleep(delay(backoff, retry, yield* Random.next, remaining))
        }
        return yield* Effect.fail(
          uncertain
            ? new Timeout({ operation, deadlineMs, attempts, reason })
            : new Unavailable({ operation, attempts, reason }),
        )
      }),
  }
}
