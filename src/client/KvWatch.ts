/**
 * Watches of the KV store: every put and delete of the keys under a prefix (or of one key), as
 * an Effect `Stream`, in revision order per shard, EACH EVENT EXACTLY ONCE.
 *
 * How: for each shard of the keyspace (a prefix may live on every shard; a key, or a prefix
 * inside a hash tag, on one), the watcher reads the shard's event log from its leader with the
 * `Events` query (a linearizable read: ReadIndex on the leader, over the bus) starting at the
 * next revision it has not delivered, and waits `pollInterval` when it is caught up. A leader
 * change, a lost connection or a restart is a failed or retried read: the next read starts
 * again at the first revision not yet delivered, so nothing is skipped and nothing repeated.
 * Events older than the shard's retention (see docs/kv.md) are gone: a watch that asks for
 * them, or falls that far behind, fails with `Compacted`.
 *
 * Revisions are per shard: `fromRevision` applies to each shard watched, and a watch resumes
 * with `resume` (the position of each shard, from `WatchEvent.group` and `revision`).
 */
import { Chunk, Duration, Effect, Option, Stream } from "effect"
import { KIND } from "../../shards/kv/Kv.js"
import { type Compacted, type Event, MAX_EVENTS_PAGE } from "../../shards/kv/KvRev.js"
import * as ShardMapIndex from "../meta/ShardMapIndex.js"
import { equals, hashedPart, hasPrefix, slotOf } from "../runtime/entity/EntityId.js"
import type { KvError } from "./ClientErrors.js"
import { type Bytes, toBytes } from "./KvClient.js"
import { invoke } from "./KvRevClient.js"
import type * as Router from "./Router.js"

/** One event, with the shard group it comes from. */
export interface WatchEvent extends Event {
  readonly group: number
}

/** Options of a watch. */
export interface WatchOptions {
  /** Watch exactly this key instead of a prefix. */
  readonly exact?: boolean
  /** First revision to deliver, in every shard watched (default: the next one, from now). */
  readonly fromRevision?: number
  /** Per shard group, the first revision to deliver (from the last event seen: its revision + 1). */
  readonly resume?: ReadonlyMap<number, number>
  /** Wait between reads of a caught-up shard (default 50 ms). */
  readonly pollInterval?: Duration.DurationInput
  /** Events per read (1 .. 1000, default 500). */
  readonly pageSize?: number
  readonly keyspace?: string
}

/** A key whose slot is in `[start, end)`: it addresses a shard. */
export const routeKeyFor = (start: number, end: number): Uint8Array => {
  for (let n = 0; ; n++) {
    const key = toBytes(`{${n}}`)
    const slot = slotOf(key)
    if (slot >= start && slot < end) return key
  }
}

interface EventsPage {
  readonly events: ReadonlyArray<Event>
  readonly next: number
  readonly revision: number
}

/** The events of one shard, from `from` on, forever. */
const shardEvents = (
  router: Router.RouterService,
  group: number,
  route: Uint8Array,
  prefix: Uint8Array,
  keep: (e: Event) => boolean,
  from: Option.Option<number>,
  options: WatchOptions,
): Stream.Stream<WatchEvent, KvError | Compacted> => {
  const poll = Duration.decode(options.pollInterval ?? "50 millis")
  const limit = options.pageSize ?? 500
  const keyspace = options.keyspace === undefined ? {} : { keyspace: options.keyspace }
  const read = (next: number) =>
    invoke<Compacted>(router, "Events", route, { from: next, prefix, limit }, keyspace) as Effect.Effect<
      EventsPage,
      KvError | Compacted
    >
  const start = Option.match(from, {
    onSome: Effect.succeed,
    // From now: the revision after the shard's current one (a linearizable read).
    onNone: () =>
      Effect.map(
        invoke(router, "Read", route, { revision: null }, keyspace) as Effect.Effect<
          { revision: number },
          KvError
        >,
        (r) => r.revision + 1,
      ),
  })
  return Stream.unwrap(
    Effect.map(start, (first) =>
      Stream.paginateChunkEffect(first, (next) =>
        Effect.gen(function* () {
          const page = yield* read(next)
          if (page.events.length === 0) yield* Effect.sleep(poll)
          const events = page.events.filter(keep).map((e) => ({ ...e, group }))
          return [Chunk.fromIterable(events), Option.some(page.next)] as const
        }),
      ),
    ),
  )
}

/**
 * Watches `prefix` (or, with `exact`, one key): an endless stream of events, per shard in
 * revision order, each exactly once; interrupt it to stop.
 */
export const watch = (
  router: Router.RouterService,
  prefix: Bytes,
  options: WatchOptions = {},
): Stream.Stream<WatchEvent, KvError | Compacted> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const p = toBytes(prefix)
      if (options.pageSize !== undefined && (options.pageSize < 1 || options.pageSize > MAX_EVENTS_PAGE))
        return yield* Effect.dieMessage(`watch pageSize ${options.pageSize} is outside 1..${MAX_EVENTS_PAGE}`)
      const map = yield* router.shardMap()
      const keyspace = options.keyspace ?? ShardMapIndex.keyspaceFor(map, KIND)
      const shards = map.keyspaces.get(keyspace) ?? []
      // A key, or a prefix that holds a complete hash tag, lives in one slot: one shard.
      const fixedSlot = options.exact === true || hashedPart(p) !== p ? slotOf(p) : undefined
      const watched = shards.filter(
        (s) => fixedSlot === undefined || (fixedSlot >= s.start && fixedSlot < s.end),
      )
      const keep = options.exact === true ? (e: Event) => equals(e.key, p) : (e: Event) => hasPrefix(e.key, p)
      const streams = watched.map((s) => {
        const from = Option.fromNullable(options.resume?.get(s.group) ?? options.fromRevision)
        return shardEvents(router, s.group, routeKeyFor(s.start, s.end), p, keep, from, options)
      })
      return Stream.mergeAll(streams, { concurrency: "unbounded" })
    }),
  )

/** Where a watch is: per shard group, the first revision not yet delivered. */
export type WatchPosition = ReadonlyMap<number, number>

/**
 * One read of every shard watched (for clients that poll, such as the JSON gateway): the
 * events after `position` (none: from now, the answer then only fixes the position) and the
 * position to continue from. Shards answer in parallel; a shard's page is whole revisions.
 */
export const pollOnce = (
  router: Router.RouterService,
  prefix: Bytes,
  position: WatchPosition | undefined,
  options: Pick<WatchOptions, "exact" | "pageSize" | "keyspace"> = {},
): Effect.Effect<
  { readonly events: ReadonlyArray<WatchEvent>; readonly next: WatchPosition },
  KvError | Compacted
> =>
  Effect.gen(function* () {
    const p = toBytes(prefix)
    const map = yield* router.shardMap()
    const keyspace = options.keyspace ?? ShardMapIndex.keyspaceFor(map, KIND)
    const ks = options.keyspace === undefined ? {} : { keyspace: options.keyspace }
    const fixedSlot = options.exact === true || hashedPart(p) !== p ? slotOf(p) : undefined
    const shards = (map.keyspaces.get(keyspace) ?? []).filter(
      (s) => fixedSlot === undefined || (fixedSlot >= s.start && fixedSlot < s.end),
    )
    const keep = options.exact === true ? (e: Event) => equals(e.key, p) : (e: Event) => hasPrefix(e.key, p)
    const pages = yield* Effect.forEach(
      shards,
      (s) =>
        Effect.gen(function* () {
          const route = routeKeyFor(s.start, s.end)
          const from = position?.get(s.group)
          if (from === undefined) {
            const r = (yield* invoke(router, "Read", route, { revision: null }, ks)) as { revision: number }
            return { group: s.group, events: [] as WatchEvent[], next: r.revision + 1 }
          }
          const page = (yield* invoke<Compacted>(
            router,
            "Events",
            route,
            { from, prefix: p, limit: options.pageSize ?? 500 },
            ks,
          )) as EventsPage
          return {
            group: s.group,
            events: page.events.filter(keep).map((e) => ({ ...e, group: s.group })),
            next: page.next,
          }
        }),
      { concurrency: "unbounded" },
    )
    return { events: pages.flatMap((pg) => pg.events), next: new Map(pages.map((pg) => [pg.group, pg.next])) }
  })
