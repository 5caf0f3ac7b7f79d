/**
 * The coordination recipes over an in-process cluster: the mutex never has two holders (five
 * contenders, while the leader of the lock's shard is stopped and started), fencing tokens grow
 * with every holder, a dead holder's lock goes with its lease, elections, and the Promise
 * client (locks, async-iterator watch) on the same core.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option, Ref, Stream } from "effect"
import * as KvRecipes from "../../src/client/KvRecipes.js"
import { KvRevClient } from "../../src/client/KvRevClient.js"
import * as KvRevPromise from "../../src/client/KvRevPromise.js"
import { groupOf, withCluster } from "./support/KvRevCluster.js"

const text = (b: Uint8Array) => new TextDecoder().decode(b)

describe("KV recipes", () => {
  it.live(
    "the mutex never has two holders, and fencing tokens grow, across a leader restart",
    () =>
      withCluster((cluster, client) =>
        Effect.gen(function* () {
          const holders = yield* Ref.make(0)
          const maxHolders = yield* Ref.make(0)
          const tokens: number[] = []
          const contender = (id: number) =>
            Effect.forEach(
              [1, 2, 3],
              () =>
                Effect.scoped(
                  Effect.gen(function* () {
                    const held = yield* KvRecipes.lock("m", { ttlMs: 3_000 })
                    const n = yield* Ref.updateAndGet(holders, (h) => h + 1)
                    yield* Ref.update(maxHolders, (m) => Math.max(m, n))
                    tokens.push(held.fencingToken)
                    yield* Effect.sleep(`${5 + id} millis`)
                    yield* Ref.update(holders, (h) => h - 1)
                  }),
                ),
              { discard: true },
            )
          const group = yield* groupOf("{m}")
          const chaos = Effect.gen(function* () {
            yield* Effect.sleep("150 millis")
            const leader = Option.getOrThrow(yield* cluster.leaderOf(group))
            yield* cluster.stop(leader)
            yield* Effect.sleep("300 millis")
            yield* cluster.start(leader)
          })
          yield* Effect.all([...[0, 1, 2, 3, 4].map(contender), chaos], { concurrency: "unbounded" })
          expect(yield* Ref.get(maxHolders)).toBe(1)
          expect(tokens.length).toBe(15)
          expect(tokens).toEqual([...tokens].sort((a, b) => a - b))
          expect(new Set(tokens).size).toBe(15)

          // A holder that never releases (its keep-alive stops: the scope of the lease is gone
          // without a revoke, as when a process dies) loses the lock when the lease expires.
          const kv = yield* KvRevClient
          const orphan = yield* kv.grant("{dead}", 400)
          yield* kv.put("{dead}/lock", "x", { lease: orphan })
          const taken = yield* Effect.scoped(
            Effect.map(KvRecipes.lock("dead", { ttlMs: 2_000 }), (h) => h.fencingToken),
          )
          expect(taken).toBeGreaterThan(0)
          yield* Effect.scoped(
            Effect.gen(function* () {
              expect(Option.isSome(yield* KvRecipes.tryLock("t"))).toBe(true)
              expect(Option.isNone(yield* Effect.scoped(KvRecipes.tryLock("t")))).toBe(true)
            }),
          )
        }).pipe(Effect.provide(client)),
      ),
    120_000,
  )

  it.live(
    "an election has one leader at a time; observers see each change",
    () =>
      withCluster((_, client) =>
        Effect.gen(function* () {
          const seen = yield* Effect.fork(KvRecipes.observe("e").pipe(Stream.take(3), Stream.runCollect))
          yield* Effect.sleep("100 millis")
          yield* Effect.scoped(
            Effect.gen(function* () {
              const a = yield* KvRecipes.campaign("e", "node-a")
              expect(Option.map(yield* KvRecipes.leader("e"), text)).toEqual(Option.some("node-a"))
              expect(yield* KvRecipes.proclaim(a, "node-a2")).toBe(true)
            }),
          )
          yield* Effect.scoped(KvRecipes.campaign("e", "node-b"))
          const events = [...(yield* Fiber.join(seen))]
          expect(events.map((v) => Option.map(v, text))).toEqual([
            Option.some("node-a"),
            Option.some("node-a2"),
            Option.none(),
          ])
        }).pipe(Effect.provide(client)),
      ),
    60_000,
  )

  it.live(
    "the Promise client: locks and a watch as an async iterator",
    () =>
      withCluster((_, client) =>
        Effect.gen(function* () {
          const kv = yield* Effect.promise(() => KvRevPromise.fromLayer(client))
          const program = async () => {
            const { revision } = await kv.put("{p}x", "1")
            await kv.put("{p}x", "2")
            const got: string[] = []
            for await (const e of kv.watch("{p}", { fromRevision: revision })) {
              got.push(`${e.type}:${text(e.value ?? new Uint8Array())}`)
              if (got.length === 2) break
            }
            const lock = await kv.lock("pm", { ttlMs: 2_000 })
            const rejected = await kv.casRevision("{pm}/lock", 0, "steal").then(
              () => "stolen",
              (e: { _tag: string }) => e._tag,
            )
            await lock.release()
            await kv.close()
            return { got, rejected }
          }
          expect(yield* Effect.promise(program)).toEqual({ got: ["put:1", "put:2"], rejected: "Conflict" })
        }),
      ),
    60_000,
  )
})
