/**
 * The router's copy of the shard map (the story of the shard map's modules:
 * src/meta/ShardMapIndex.ts), read as a `ShardMapIndex` to route every call.
 *
 * The map is fetched with `GetShardMap { knownVersion }`: a current copy costs a small
 * `NotModified`. It only moves to newer versions. Refreshes are serialized (one request in
 * flight; callers that wanted a refresh meanwhile take its result) and, unless forced (a
 * `WrongShard` proves the map stale), at most one every `MIN_REFRESH_INTERVAL_MS`, so a burst
 * of "no responders" during an election does not flood the metadata leader.
 */
import { Clock, Data, Effect, Either } from "effect"
import { completeShardMap } from "../meta/PagedShardMap.js"
import * as ShardMapIndex from "../meta/ShardMapIndex.js"
import { Unavailable } from "./ClientErrors.js"
import * as MetaClient from "./MetaClient.js"
import * as Retry from "./Retry.js"

/** Refreshes not forced are at least this far apart. */
export const MIN_REFRESH_INTERVAL_MS = 50

/** Counters the copy keeps. */
export interface ClientShardMapStats {
  mapFetches: number
  mapVersion: number
}

/** The metadata group brought no newer map (`reason`); the current one stays. */
export class NoShardMap extends Data.TaggedError("NoShardMap")<{ readonly reason: string }> {}

/** See the module comment. */
export interface ClientShardMap {
  /** The current index (version 0: nothing fetched yet). */
  readonly view: () => ShardMapIndex.ShardMapIndex
  /**
   * A map newer than version `seen`, unless one arrived meanwhile or (not `forced`) the last
   * fetch was very recent: then the current one. One request (and its pages) before
   * `deadlineAt` (clock milliseconds).
   */
  readonly refreshFrom: (
    seen: number,
    forced: boolean,
    deadlineAt: number,
  ) => Effect.Effect<ShardMapIndex.ShardMapIndex, NoShardMap>
  /**
   * A map newer than the current one, asked under the retry policy until the metadata group
   * answers; `Unavailable` when it did not before `deadlineAt`.
   */
  readonly refresh: (
    backoff: Retry.Backoff,
    deadlineAt: number,
  ) => Effect.Effect<ShardMapIndex.ShardMapIndex, Unavailable>
}

/** A copy holding nothing yet, fetched from `endpoint`. */
export const make = (endpoint: MetaClient.MetaEndpoint, stats: ClientShardMapStats): ClientShardMap => {
  let view = ShardMapIndex.empty
  let lastFetchAt = Number.NEGATIVE_INFINITY
  const lock = Effect.unsafeMakeSemaphore(1)

  const ask = (request: Uint8Array, deadlineAt: number) =>
    Effect.mapError(
      MetaClient.ask(endpoint, request, deadlineAt),
      (e) => new NoShardMap({ reason: e.reason }),
    )

  const fetch = (deadlineAt: number) =>
    Effect.gen(function* () {
      lastFetchAt = yield* Clock.currentTimeMillis
      stats.mapFetches++
      const reply = yield* ask(MetaClient.getShardMapRequest(view.version), deadlineAt)
      const map = MetaClient.shardMapOf(reply)
      if (Either.isLeft(map)) return yield* new NoShardMap({ reason: map.left })
      if (map.right._tag === "NotModified") return view
      const pageAt = (page: number) =>
        ask(MetaClient.getShardMapRequest(0, page), deadlineAt).pipe(
          Effect.map((r) => (r._tag === "ShardMap" ? r : undefined)),
          Effect.orElseSucceed(() => undefined),
        )
      const whole = yield* completeShardMap(map.right.map, pageAt)
      if (whole === undefined)
        return yield* new NoShardMap({ reason: "could not read every page of one shard map version" })
      if (whole.version >= view.version) {
        view = ShardMapIndex.fromShardMap(whole)
        stats.mapVersion = view.version
      }
      return view
    })

  const refreshFrom: ClientShardMap["refreshFrom"] = (seen, forced, deadlineAt) =>
    lock.withPermits(1)(
      Effect.gen(function* () {
        if (view.version > seen) return view
        const now = yield* Clock.currentTimeMillis
        if (!forced && view.version > 0 && now - lastFetchAt < MIN_REFRESH_INTERVAL_MS) return view
        return yield* fetch(deadlineAt)
      }),
    )

  const refresh: ClientShardMap["refresh"] = (backoff, deadlineAt) =>
    Effect.suspend(() =>
      Retry.run(refreshFrom(view.version, true, deadlineAt), {
        backoff,
        deadlineAt,
        retryable: (_): _ is NoShardMap => true,
        onExpiry: (last, attempts) =>
          new Unavailable({ operation: "meta.GetShardMap", attempts, reason: last.reason }),
      }),
    )

  return { view: () => view, refreshFrom, refresh }
}
