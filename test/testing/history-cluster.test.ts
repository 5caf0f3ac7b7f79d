/**
 * The history recorder over a real in-process cluster: three managed nodes with LevelDB stores
 * on the in-process bus (`DevCluster`, transport memory, as test/examples/Counter.test.ts),
 * clients calling concurrently through the Counter's typed client and the KV client, every
 * call recorded, then both histories checked: the Counter's against the Counter model, the
 * KV store's against `kvModel`. Each client's operations are drawn from a seeded generator
 * (`FLOTILLA_SEED` replays the workload; the cluster's timing is the machine's).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer, Option, Random } from "effect"
import { describe, expect, it } from "vitest"
import { Counter } from "../../examples/counter/Counter.js"
import * as DevCluster from "../../src/cli/DevCluster.js"
import * as Entities from "../../src/client/Entities.js"
import * as KvClient from "../../src/client/KvClient.js"
import type { EntitySender } from "../../src/runtime/entity/EntityClient.js"
import { EntityShardKind } from "../../src/runtime/entity/index.js"
import * as History from "../../src/testing/History.js"
import { type KvInput, type KvOutput, kvModel } from "../../src/testing/Linearizability.js"
import { seeds } from "../../src/testing/RuntimeSimSeed.js"
import {
  type CounterInput,
  type CounterOutput,
  counterModel,
  resetForgettingModel,
} from "./support/CounterModel.js"

const FILE = "test/testing/history-cluster.test.ts"
const COUNTERS = ["c-1", "c-2"]
const KEYS = ["k-1", "k-2"]

/** One Counter client: `n` operations on random counters, mostly adds and reads. */
const counterClient = (history: History.History<CounterInput, CounterOutput>, client: number, n: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < n; i++) {
      const id = COUNTERS[yield* Random.nextIntBetween(0, COUNTERS.length)]!
      const dice = yield* Random.nextIntBetween(0, 10)
      const c = Counter.client(id)
      if (dice < 5) {
        const by = yield* Random.nextIntBetween(-2, 6)
        yield* history.record(client, { id, op: "add", by }, c.Add({ by }))
      } else if (dice < 9) yield* history.record(client, { id, op: "get" }, c.Get())
      else yield* history.record(client, { id, op: "reset" }, c.Reset())
    }
  })

/** How a KV call's result is an output of `kvModel`. */
const putOutcome = History.classifier<{ readonly created: boolean }, unknown, KvOutput>({
  success: () => ({ value: undefined }),
})
const getOutcome = History.classifier<Option.Option<Uint8Array>, unknown, KvOutput>({
  success: (value) => ({
    value: Option.getOrUndefined(Option.map(value, (v) => new TextDecoder().decode(v))),
  }),
})

/** One KV client: `n` puts (of values unique to the client and step) and reads. */
const kvClient = (history: History.History<KvInput, KvOutput>, client: number, n: number) =>
  Effect.gen(function* () {
    const kv = yield* KvClient.KvClient
    for (let i = 0; i < n; i++) {
      const key = KEYS[yield* Random.nextIntBetween(0, KEYS.length)]!
      if (yield* Random.nextBoolean) {
        const value = `v${client}.${i}`
        yield* history.record(client, { op: "put", key, value }, kv.put(key, value), putOutcome)
      } else yield* history.record(client, { op: "get", key }, kv.get(key), getOutcome)
    }
  })

describe("History over a real cluster", () => {
  for (const seed of seeds([1])) {
    it(`records concurrent Counter and KV calls and finds them linearizable (seed ${seed})`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "flotilla-history-"))
      try {
        await Effect.runPromise(
          Effect.scoped(
            Effect.gen(function* () {
              const dev = yield* DevCluster.start({
                dataDir: dir,
                transport: "memory",
                cluster: "history",
                kinds: [EntityShardKind.make(Counter)],
                keyspaces: [
                  { name: "counter", kind: "Counter", shards: 2 },
                  { name: "kv", shards: 2 },
                ],
              })
              const counters = yield* History.make<CounterInput, CounterOutput>()
              const kv = yield* History.make<KvInput, KvOutput>()
              yield* Effect.forEach(
                [1, 2, 3, 4, 5, 6],
                (client) => {
                  const run: Effect.Effect<void, unknown, KvClient.KvClient | EntitySender> =
                    client <= 4 ? counterClient(counters, client, 15) : kvClient(kv, client, 15)
                  return Effect.withRandom(run, Random.make(seed * 100 + client))
                },
                { concurrency: "unbounded", discard: true },
              ).pipe(
                Effect.provide(
                  Layer.mergeAll(Entities.layer, KvClient.layer).pipe(Layer.provide(dev.clients)),
                ),
              )

              const counterOps = yield* counters.operations
              expect(counterOps).toHaveLength(60)
              // The calls overlapped: some operation was invoked before another one completed.
              const sorted = [...counterOps].sort((a, b) => a.invokedAt - b.invokedAt)
              expect(sorted.some((o, i) => i > 0 && o.invokedAt < sorted[i - 1]!.completedAt)).toBe(true)
              const verdict = yield* counters.check(counterModel, { seed, file: FILE })
              expect(verdict.ok, verdict.report).toBe(true)
              const kvVerdict = yield* kv.check(kvModel, { seed, file: FILE })
              expect((yield* kv.operations).length).toBe(30)
              expect(kvVerdict.ok, kvVerdict.report).toBe(true)

              // A sequential tail on one counter, then the whole history against a model that
              // forgets what Reset does: it fails with a short witness.
              const tail = Entities.layer.pipe(Layer.provide(dev.clients))
              yield* Effect.gen(function* () {
                const c = Counter.client("c-1")
                yield* counters.record(1, { id: "c-1", op: "add", by: 1 }, c.Add({ by: 1 }))
                yield* counters.record(1, { id: "c-1", op: "reset" }, c.Reset())
                yield* counters.record(1, { id: "c-1", op: "get" }, c.Get())
              }).pipe(Effect.provide(tail))
              expect((yield* counters.check(counterModel)).ok).toBe(true)
              const wrong = yield* counters.check(resetForgettingModel, { seed, file: FILE })
              expect(wrong.ok, wrong.report).toBe(false)
              expect(wrong.witness?.minimal, wrong.report).toBe(true)
              expect(wrong.witness!.ops.length, wrong.report).toBeLessThanOrEqual(4)
              expect(wrong.report).toContain(`seed ${seed}; replay: FLOTILLA_SEED=${seed} npx vitest run`)
            }),
          ),
        )
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }, 120_000)
  }
})
