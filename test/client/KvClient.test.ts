/**
 * The KV client end to end over an in-process cluster (three nodes, four KV shards, real
 * Raft groups, the shard map from a real metadata state machine): every operation, the typed
 * errors, scans merged across shards, the Promise client on the same core, and the typed
 * entity client (Counter) through `Entities`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Option, Stream } from "effect"
import { Counter } from "../../examples/counter/Counter.js"
import { Kv, MAX_VALUE_BYTES } from "../../shards/kv/Kv.js"
import * as Entities from "../../src/client/Entities.js"
import { getText, KvClient, layer as kvLayer } from "../../src/client/KvClient.js"
import * as PromiseClient from "../../src/client/PromiseClient.js"
import * as Router from "../../src/client/Router.js"
import { GroupId } from "../../src/raft/Ids.js"
import type { EntitySender } from "../../src/runtime/entity/EntityClient.js"
import { eventually } from "./support/Eventually.js"
import * as MemoryCluster from "./support/MemoryCluster.js"

const text = (b: Uint8Array) => new TextDecoder().decode(b)

const withCluster = <A, E>(
  body: (
    cluster: MemoryCluster.MemoryCluster,
    client: Layer.Layer<KvClient | Router.Router | EntitySender>,
  ) => Effect.Effect<A, E>,
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const cluster = yield* MemoryCluster.make({ kinds: [Kv, Counter] })
      const router = Router.layer({ cluster: cluster.cluster }).pipe(Layer.provide(cluster.clientBus))
      const client = Layer.mergeAll(kvLayer, Entities.layer).pipe(Layer.provideMerge(router))
      return yield* body(cluster, client)
    }),
  )

describe("KvClient over an in-process cluster", () => {
  it.live(
    "put, get, delete and cas, with typed errors",
    () =>
      withCluster((_, client) =>
        Effect.gen(function* () {
          const kv = yield* KvClient
          expect(yield* kv.get("a")).toEqual(Option.none())
          expect(yield* kv.put("a", "1")).toEqual({ created: true })
          expect(yield* kv.put("a", "2")).toEqual({ created: false })
          expect(Option.map(yield* kv.get("a"), text)).toEqual(Option.some("2"))
          expect(yield* getText("a")).toEqual(Option.some("2"))
          // A stale read may come from a follower a write behind: it catches up.
          const stale = yield* eventually(
            kv.get("a", { staleRead: true }),
            (v) => Option.isSome(v) && text(v.value) === "2",
          )
          expect(Option.map(stale, text)).toEqual(Option.some("2"))

          // cas: success, conflict carrying the current value, expect-absent, delete by cas
          yield* kv.cas("a", "2", "3")
          const conflict = yield* Effect.flip(kv.cas("a", "2", "4"))
          expect(conflict._tag).toBe("Conflict")
          if (conflict._tag === "Conflict") expect(text(conflict.current!)).toBe("3")
          yield* kv.cas("fresh", null, "x")
          const absent = yield* Effect.flip(kv.cas("missing", "y", "z"))
          expect(absent).toMatchObject({ _tag: "Conflict", current: null })
          yield* kv.cas("fresh", "x", null)
          expect(yield* kv.get("fresh")).toEqual(Option.none())

          expect(yield* kv.delete("a")).toEqual({ deleted: true })
          expect(yield* kv.delete("a")).toEqual({ deleted: false })
          expect(yield* kv.get("a")).toEqual(Option.none())

          // Binary keys and values round-trip.
          const key = new Uint8Array([0, 255, 1])
          const value = new Uint8Array([9, 0, 200])
          yield* kv.put(key, value)
          expect(yield* kv.get(key)).toEqual(Option.some(value))

          // Refused locally: nothing is sent.
          expect((yield* Effect.flip(kv.put("", "v")))._tag).toBe("InvalidRequest")
          expect((yield* Effect.flip(kv.put("k".repeat(4097), "v")))._tag).toBe("InvalidRequest")
          expect((yield* Effect.flip(kv.put("k", new Uint8Array(MAX_VALUE_BYTES + 1))))._tag).toBe(
            "InvalidRequest",
          )
          expect((yield* Effect.flip(kv.scan({ limit: 0 })))._tag).toBe("InvalidRequest")
          yield* kv.put("k", new Uint8Array(MAX_VALUE_BYTES))
          expect(Option.map(yield* kv.get("k"), (v) => v.length)).toEqual(Option.some(MAX_VALUE_BYTES))

          const router = yield* Router.Router
          const stats = yield* router.stats
          expect(stats.sessionsOpened).toBeGreaterThan(0)
          // The sessions the router holds now (the gateway's flotilla_sessions_open).
          expect(router.sessionsOpen()).toBeGreaterThan(0)
          expect(router.sessionsOpen()).toBeLessThanOrEqual(stats.sessionsOpened)
        }).pipe(Effect.provide(client)),
      ),
    60_000,
  )

  it.live(
    "concurrent calls to one shard share bus messages, each with its own result",
    () =>
      withCluster((_, client) =>
        Effect.gen(function* () {
          const kv = yield* KvClient
          // A hash tag would pin them to one shard; 200 keys over four shards do as well.
          const keys = Array.from({ length: 200 }, (_, i) => `batch-${i}`)
          const puts = yield* Effect.all(
            keys.map((k) => kv.put(k, `v-${k}`)),
            { concurrency: "unbounded" },
          )
          expect(puts.every((r) => r.created)).toBe(true)
          const values = yield* Effect.all(
            keys.map((k) => Effect.map(kv.get(k), Option.map(text))),
            { concurrency: "unbounded" },
          )
          expect(values).toEqual(keys.map((k) => Option.some(`v-${k}`)))
          // A cas that must fail, in the middle of batched ones that succeed: per-request errors.
          const outcomes = yield* Effect.all(
            keys
              .slice(0, 50)
              .map((k, i) => Effect.either(kv.cas(k, i === 25 ? "wrong" : `v-${k}`, `w-${k}`))),
            { concurrency: "unbounded" },
          )
          expect(
            outcomes.filter((o) => o._tag === "Left").map((o) => o._tag === "Left" && o.left._tag),
          ).toEqual(["Conflict"])
          const stats = yield* (yield* Router.Router).stats
          expect(stats.batches).toBeGreaterThan(0)
          expect(stats.batchedRequests).toBeGreaterThan(stats.batches)
        }).pipe(Effect.provide(client)),
      ),
    60_000,
  )

  it.live(
    "a router on a node serves the groups it leads in-process, and takes the bus when the hint is wrong",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* MemoryCluster.make({ kinds: [Kv] })
          const node1 = Option.getOrThrow(cluster.node(1))
          let localCalls = 0
          // A hint that claims every group: node 1 answers NotLeader for the groups it doesn't
          // lead, and those calls must still succeed over the bus.
          const localGroups: Router.LocalGroups = {
            leads: () => true,
            serve: (group, bytes, answer) => {
              localCalls++
              node1.serve(group, bytes, answer)
            },
          }
          const router = Router.layer({ cluster: cluster.cluster, localGroups }).pipe(
            Layer.provide(cluster.clientBus),
          )
          const client = kvLayer.pipe(Layer.provideMerge(router))
          yield* Effect.gen(function* () {
            const kv = yield* KvClient
            const keys = Array.from({ length: 40 }, (_, i) => `local-${i}`)
            for (const k of keys) yield* kv.put(k, `v-${k}`)
            for (const k of keys) expect(Option.map(yield* kv.get(k), text)).toEqual(Option.some(`v-${k}`))
            const stats = yield* (yield* Router.Router).stats
            expect(stats.localRequests).toBe(localCalls)
            expect(localCalls).toBeGreaterThan(0)
            // Groups led elsewhere: their calls were refused locally and went by bus.
            const leaders = yield* Effect.forEach(cluster.groupsOf("kv"), (g) => cluster.leaderOf(g))
            if (leaders.some((l) => Option.getOrUndefined(l) !== 1))
              expect(stats.notLeader).toBeGreaterThan(0)
          }).pipe(Effect.provide(client))
        }),
      ),
    60_000,
  )

  it.live(
    "an in-process attempt left unanswered waits its attempt timeout, then the call takes the bus",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* MemoryCluster.make({ kinds: [Kv] })
          let localCalls = 0
          // A replica that never answers: each call's local attempt must end at its timeout.
          const localGroups: Router.LocalGroups = {
            leads: () => true,
            serve: () => {
              localCalls++
            },
          }
          const router = Router.layer({
            cluster: cluster.cluster,
            localGroups,
            attemptTimeout: "50 millis",
          }).pipe(Layer.provide(cluster.clientBus))
          const client = kvLayer.pipe(Layer.provideMerge(router))
          yield* Effect.gen(function* () {
            const kv = yield* KvClient
            yield* kv.put("silent-a", "1")
            yield* kv.put("silent-b", "2")
            expect(Option.map(yield* kv.get("silent-a"), text)).toEqual(Option.some("1"))
            const stats = yield* (yield* Router.Router).stats
            // Each request (the three calls and the sessions their puts opened) tried locally
            // once, timed out once, and was answered over the bus.
            expect(localCalls).toBeGreaterThanOrEqual(3)
            expect(stats.localRequests).toBe(localCalls)
            expect(stats.requestTimeouts).toBe(localCalls)
          }).pipe(Effect.provide(client))
        }),
      ),
    60_000,
  )

  it.live(
    "scans every shard, merged in key order, page by page",
    () =>
      withCluster((cluster, client) =>
        Effect.gen(function* () {
          const kv = yield* KvClient
          const keys = Array.from({ length: 230 }, (_, i) => `key-${String(i).padStart(4, "0")}`)
          yield* Effect.forEach(keys, (k) => kv.put(k, `v${k}`), { concurrency: 32, discard: true })
          yield* kv.put("other", "x")
          // The keys really are spread over every shard.
          expect(cluster.groupsOf("kv").length).toBe(4)

          const seen: string[] = []
          let after: Uint8Array | undefined
          for (let pages = 0; pages < 100; pages++) {
            const page = yield* kv.scan({ prefix: "key-", limit: 37, after })
            for (const e of page.entries) {
              expect(text(e.value)).toBe(`v${text(e.key)}`)
              seen.push(text(e.key))
            }
            if (Option.isNone(page.continuation)) break
            after = page.continuation.value
          }
          expect(seen).toEqual(keys)

          const streamed = yield* Stream.runCollect(
            kv.scanAll({ start: "key-0100", end: "key-0110", limit: 3 }),
          )
          expect(Chunk.toArray(streamed).map((e) => text(e.key))).toEqual(keys.slice(100, 110))

          const all = yield* kv.scan({ limit: 1000 })
          expect(all.entries.map((e) => text(e.key))).toEqual([...keys, "other"])
          expect(Option.isNone(all.continuation)).toBe(true)
        }).pipe(Effect.provide(client)),
      ),
    60_000,
  )

  it.live(
    "typed entity clients (Counter) reach their shards through Entities",
    () =>
      withCluster((_, client) =>
        Effect.gen(function* () {
          const adds = yield* Effect.forEach(
            Array.from({ length: 20 }, (_, i) => i),
            (i) => Counter.client(`user-${i % 5}`).Add({ by: 1 }),
            { concurrency: 10 },
          )
          expect(adds.length).toBe(20)
          for (let i = 0; i < 5; i++) expect(yield* Counter.client(`user-${i}`).Get()).toBe(4)
          expect(yield* Counter.client("user-0").Reset()).toBe(4)
          const overflow = yield* Effect.flip(
            Effect.zipRight(
              Counter.client("big").Add({ by: Number.MAX_SAFE_INTEGER }),
              Counter.client("big").Add({ by: 1 }),
            ),
          )
          expect(overflow._tag).toBe("CounterOverflow")
        }).pipe(Effect.provide(client)),
      ),
    60_000,
  )

  it.live(
    "the Promise client runs on the same core",
    () =>
      withCluster((cluster) =>
        Effect.promise(async () => {
          const kv = await PromiseClient.fromLayer(
            Layer.provide(kvLayer, Router.layer({ cluster: cluster.cluster })).pipe(
              Layer.provide(cluster.clientBus),
            ),
          )
          try {
            expect(await kv.get("p")).toBeUndefined()
            expect(await kv.put("p", "1")).toEqual({ created: true })
            expect(await kv.getText("p")).toBe("1")
            expect(await kv.cas("p", "1", "2")).toEqual({ succeeded: true })
            const failed = await kv.cas("p", "1", "3")
            expect(failed.succeeded).toBe(false)
            if (!failed.succeeded) expect(text(failed.current!)).toBe("2")
            expect((await kv.scan({ prefix: "p" })).entries.map((e) => text(e.key))).toEqual(["p"])
            expect(await kv.delete("p")).toEqual({ deleted: true })
            const refused = await kv.put("", "x").then(
              () => undefined,
              (e: unknown) => e,
            )
            expect(refused).toMatchObject({ _tag: "InvalidRequest" })
            expect(refused).toBeInstanceOf(Error)
          } finally {
            await kv.close()
          }
          const closed = await kv.get("p").then(
            () => "resolved",
            () => "rejected",
          )
          expect(closed).toBe("rejected")
        }),
      ),
    60_000,
  )

  it.live(
    "stale reads are answered by any replica, even with no leader",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* MemoryCluster.make({ kinds: [Kv], shards: 1 })
          const router = Router.layer({ cluster: cluster.cluster }).pipe(Layer.provide(cluster.clientBus))
          yield* Effect.gen(function* () {
            const kv = yield* KvClient
            yield* kv.put("s", "v1")
            expect(Option.map(yield* kv.get("s"), text)).toEqual(Option.some("v1"))
            // Wait until every replica applied the write.
            const group = GroupId(cluster.groupsOf("kv")[0]!)
            const applied = Effect.forEach([1, 2, 3], (id) =>
              Effect.map(Option.getOrThrow(cluster.node(id)).status(group), (st) =>
                Option.isSome(st) ? st.value.applied : -1,
              ),
            )
            for (;;) {
              const a = yield* applied
              if (new Set(a).size === 1) break
              yield* Effect.sleep("20 millis")
            }
            // Two of three nodes gone, the leader among them: no leader, no linearizable reads.
            const leader = Option.getOrThrow(yield* cluster.leaderOf(group))
            const other = [1, 2, 3].find((id) => id !== leader)!
            yield* cluster.stop(leader)
            yield* cluster.stop(other)
            const linearizable = yield* Effect.flip(kv.get("s", { deadline: "400 millis" }))
            expect(["Unavailable", "Timeout"]).toContain(linearizable._tag)
            // The last replica still answers stale reads.
            expect(Option.map(yield* kv.get("s", { staleRead: true, deadline: "2 seconds" }), text)).toEqual(
              Option.some("v1"),
            )
            const page = yield* kv.scan({ staleRead: true, deadline: "2 seconds" })
            expect(page.entries.map((e) => text(e.key))).toEqual(["s"])
            expect((yield* (yield* Router.Router).stats).replicaReads).toBeGreaterThanOrEqual(2)
          }).pipe(Effect.provide(Layer.provideMerge(kvLayer, router)))
        }),
      ),
    60_000,
  )

  it.live(
    "a missing keyspace and a missing metadata group give Unavailable at the deadline",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* MemoryCluster.make({ kinds: [Kv], shards: 1 })
          const router = Router.layer({ cluster: cluster.cluster }).pipe(Layer.provide(cluster.clientBus))
          const noKeyspace = yield* Effect.flip(
            Counter.client("x")
              .Get()
              .pipe(Effect.provide(Entities.layer.pipe(Layer.provide(router)))),
          )
          expect(noKeyspace._tag).toBe("EntityUnavailable")
          const otherCluster = Router.layer({ cluster: "nobody", deadline: "2 seconds" }).pipe(
            Layer.provide(cluster.clientBus),
          )
          const noMeta = yield* Effect.flip(
            Effect.flatMap(KvClient, (kv) => kv.get("a")).pipe(
              Effect.provide(kvLayer.pipe(Layer.provide(otherCluster))),
            ),
          )
          expect(noMeta._tag).toBe("Unavailable")
          expect(noMeta.message).toContain("no metadata leader")
        }),
      ).pipe(Router.withDeadline("500 millis")),
    60_000,
  )
})
