/**
 * Exactly-once writes through the router's sessions, over an in-process cluster.
 *
 * - Lost replies: a client bus that delivers every third request to a group but drops its
 *   reply forces the router to resend commands the shard has already applied. With sessions,
 *   every put of a fresh key still reports `created: true` (the retry got the cached reply)
 *   and every counter ends at the number of acknowledged adds. The same workload WITHOUT
 *   sessions (the control) shows the duplicates this detects.
 * - A leader stopped during a write workload: every acknowledged write is readable afterwards
 *   with its value, no acknowledged put of a fresh key reports `created: false`, and each
 *   counter lies between its acknowledged adds and its acknowledged plus unknown ones.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Option, Ref } from "effect"
import { Counter } from "../../examples/counter/Counter.js"
import { Kv } from "../../shards/kv/Kv.js"
import * as Entities from "../../src/client/Entities.js"
import { KvClient, layer as kvLayer } from "../../src/client/KvClient.js"
import * as Router from "../../src/client/Router.js"
import { Bus, RequestTimeout } from "../../src/transport/Bus.js"
import * as MemoryCluster from "./support/MemoryCluster.js"

const text = (b: Uint8Array) => new TextDecoder().decode(b)

/** A bus that forwards every `every`-th group request but loses its reply. */
const lossyBus = (every: number) =>
  Layer.effect(
    Bus,
    Effect.map(Bus, (bus) => {
      let n = 0
      return {
        ...bus,
        request: (subject, data, options) =>
          subject.includes(".group.") && ++n % every === 0
            ? Effect.zipRight(
                Effect.ignore(bus.request(subject, data, options)),
                Effect.fail(new RequestTimeout({ subject, timeoutMillis: 0, message: "reply lost (test)" })),
              )
            : bus.request(subject, data, options),
      }
    }),
  )

const clientOver = (busLayer: Layer.Layer<Bus>, options: Partial<Router.RouterOptions> = {}) =>
  Layer.mergeAll(kvLayer, Entities.layer).pipe(
    Layer.provideMerge(Router.layer({ cluster: "t", ...options }).pipe(Layer.provide(busLayer))),
  )

/** Puts fresh keys and adds to counters; returns what it saw. */
const workload = (puts: number, adds: number) =>
  Effect.gen(function* () {
    const kv = yield* KvClient
    const created = yield* Effect.forEach(
      Array.from({ length: puts }, (_, i) => i),
      (i) => Effect.map(kv.put(`fresh-${i}`, `v${i}`), (r) => r.created),
      { concurrency: 16 },
    )
    yield* Effect.forEach(
      Array.from({ length: adds }, (_, i) => i),
      (i) => Counter.client(`c-${i % 4}`).Add({ by: 1 }),
      { concurrency: 16, discard: true },
    )
    const counters: number[] = []
    for (let c = 0; c < 4; c++) counters.push(yield* Counter.client(`c-${c}`).Get())
    const stats = yield* (yield* Router.Router).stats
    return { duplicates: created.filter((c) => !c).length, counters, stats }
  })

describe("exactly-once commands", () => {
  it.live(
    "resent commands whose replies were lost are applied once (sessions), and twice without them",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* MemoryCluster.make({ kinds: [Kv, Counter] })
          const lossy = lossyBus(3).pipe(Layer.provide(cluster.clientBus))

          const withSessions = yield* workload(120, 80).pipe(Effect.provide(clientOver(lossy)))
          expect(withSessions.stats.requestTimeouts).toBeGreaterThan(30)
          expect(withSessions.duplicates).toBe(0)
          expect(withSessions.counters).toEqual([20, 20, 20, 20])

          // The control: the same losses with session 0 (at-least-once) do apply twice. Fresh
          // keys and counters of a second kind of key prefix keep the runs apart.
          const control = yield* Effect.gen(function* () {
            const kv = yield* KvClient
            const created = yield* Effect.forEach(
              Array.from({ length: 120 }, (_, i) => i),
              (i) => Effect.map(kv.put(`control-${i}`, "v"), (r) => r.created),
              { concurrency: 16 },
            )
            yield* Effect.forEach(
              Array.from({ length: 80 }, () => 0),
              () => Counter.client("control").Add({ by: 1 }),
              { concurrency: 16, discard: true },
            )
            return {
              duplicates: created.filter((c) => !c).length,
              counter: yield* Counter.client("control").Get(),
            }
          }).pipe(Effect.provide(clientOver(lossy, { sessions: false })))
          expect(control.duplicates).toBeGreaterThan(0)
          expect(control.counter).toBeGreaterThan(80)
        }),
      ),
    90_000,
  )

  it.live(
    "a leader stopped during writes: acknowledged writes survive, none is applied twice",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* MemoryCluster.make({ kinds: [Kv, Counter], shards: 2 })
          const acked = yield* Ref.make(new Map<string, string>())
          const unknownPuts = yield* Ref.make(0)
          const duplicates = yield* Ref.make(0)
          const ackedAdds = yield* Ref.make(new Map<string, number>())
          const unknownAdds = yield* Ref.make(new Map<string, number>())
          const bump = (ref: Ref.Ref<Map<string, number>>, key: string) =>
            Ref.update(ref, (m) => new Map(m).set(key, (m.get(key) ?? 0) + 1))
          const running = yield* Ref.make(true)

          const writer = (w: number) =>
            Effect.gen(function* () {
              const kv = yield* KvClient
              for (let i = 0; yield* Ref.get(running); i++) {
                const key = `w${w}-${i}`
                const put = yield* Effect.either(kv.put(key, `value-${key}`))
                if (Either.isRight(put)) {
                  if (!put.right.created) yield* Ref.update(duplicates, (n) => n + 1)
                  yield* Ref.update(acked, (m) => new Map(m).set(key, `value-${key}`))
                } else {
                  expect(put.left._tag).toBe("Timeout")
                  yield* Ref.update(unknownPuts, (n) => n + 1)
                }
                const counter = `k${w % 3}`
                const add = yield* Effect.either(Counter.client(counter).Add({ by: 1 }))
                yield* Either.isRight(add) ? bump(ackedAdds, counter) : bump(unknownAdds, counter)
              }
            })

          const client = clientOver(cluster.clientBus, { deadline: "20 seconds", attemptTimeout: "1 second" })
          yield* Effect.gen(function* () {
            const writers = yield* Effect.fork(
              Effect.forEach([0, 1, 2, 3, 4, 5], writer, { concurrency: "unbounded", discard: true }),
            )
            // Let some writes land, then stop the node leading the first KV group.
            yield* Effect.sleep("400 millis")
            const victim = Option.getOrThrow(yield* cluster.leaderOf(cluster.groupsOf("kv")[0]!))
            const before = (yield* Ref.get(acked)).size
            yield* cluster.stop(victim)
            yield* Effect.sleep("1500 millis")
            yield* Ref.set(running, false)
            yield* writers.await
            const after = (yield* Ref.get(acked)).size
            expect(before).toBeGreaterThan(0)
            expect(after).toBeGreaterThan(before)
            // The failover was seen by the client: requests were retried past the stop.
            const stats = yield* (yield* Router.Router).stats
            expect(stats.retries).toBeGreaterThan(0)

            const kv = yield* KvClient
            const written = yield* Ref.get(acked)
            yield* Effect.forEach(
              written,
              ([key, value]) =>
                Effect.map(kv.get(key), (v) => expect(Option.map(v, text)).toEqual(Option.some(value))),
              { concurrency: 32, discard: true },
            )
            expect(yield* Ref.get(duplicates)).toBe(0)
            const adds = yield* Ref.get(ackedAdds)
            const unknown = yield* Ref.get(unknownAdds)
            for (const [counter, n] of adds) {
              const value = yield* Counter.client(counter).Get()
              expect(value).toBeGreaterThanOrEqual(n)
              expect(value).toBeLessThanOrEqual(n + (unknown.get(counter) ?? 0))
            }
          }).pipe(Effect.provide(client))
        }),
      ),
    90_000,
  )
})
