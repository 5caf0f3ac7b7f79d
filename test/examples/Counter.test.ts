/**
 * Smoke test of examples/counter: the Counter kind hosted by a real cluster (three managed
 * nodes with LevelDB stores, here over the in-process bus) in its own keyspace, called through
 * its typed client and the `Entities` sender, exactly as an application would.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { Counter, CounterOverflow } from "../../examples/counter/Counter.js"
import * as DevCluster from "../../src/cli/DevCluster.js"
import * as Entities from "../../src/client/Entities.js"
import { EntityShardKind } from "../../src/runtime/entity/index.js"

describe("examples/counter", () => {
  it("runs on a real cluster through the typed client", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flotilla-counter-"))
    try {
      await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const dev = yield* DevCluster.start({
              dataDir: dir,
              transport: "memory",
              cluster: "counter",
              kinds: [EntityShardKind.make(Counter)],
              keyspaces: [{ name: "counter", kind: "Counter", shards: 2 }],
            })
            yield* Effect.gen(function* () {
              const adds = yield* Effect.forEach(
                Array.from({ length: 12 }, (_, i) => i),
                () => Counter.client("user-42").Add({ by: 1 }),
                { concurrency: 4 },
              )
              expect([...adds].sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1))
              expect(yield* Counter.client("user-42").Get()).toBe(12)
              expect(yield* Counter.client("user-7").Get()).toBe(0)
              expect(yield* Counter.client("user-42").Reset()).toBe(12)
              yield* Counter.client("big").Add({ by: Number.MAX_SAFE_INTEGER })
              const overflow = yield* Effect.flip(Counter.client("big").Add({ by: 1 }))
              expect(overflow).toEqual(new CounterOverflow({ value: Number.MAX_SAFE_INTEGER, by: 1 }))
            }).pipe(Effect.provide(Entities.layer.pipe(Layer.provide(dev.clients))))
          }),
        ),
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
