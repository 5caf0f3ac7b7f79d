/**
 * The Stock kind on a one-node cluster in this process (the in-process bus, a LevelDB store in
 * a temporary directory), called through its typed client: the package's public entry points
 * only (`flotilla`, `flotilla/client`).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer, Logger, LogLevel } from "effect"
import { Bus, EntityShardKind, MemoryBus, MemoryNetwork, StartNode } from "flotilla"
import { Entities, Router } from "flotilla/client"
import { afterAll, describe, expect, it } from "vitest"
import { OutOfStock, Stock } from "../src/Stock.js"

const dir = mkdtempSync(join(tmpdir(), "flotilla-app-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A one-node cluster hosting Stock, with a keyspace of 2 shards; the clients' layer. */
const cluster = Effect.gen(function* () {
  const memory = { bus: yield* MemoryBus.make(), network: yield* MemoryNetwork.make({ cluster: "app" }) }
  yield* Layer.build(
    StartNode.layer({
      mode: "bootstrap",
      dataDir: join(dir, "node-1"),
      cluster: "app",
      nats: { servers: "nats://127.0.0.1:1" },
      kinds: [EntityShardKind.make(Stock)],
      clusterSettings: { replicationFactor: 1 },
      memory,
    }),
  )
  const clients = yield* Layer.build(
    Router.layer({ cluster: "app" }).pipe(Layer.provideMerge(Bus.layerMemory(memory.bus))),
  )
  const router = yield* Effect.provide(Router.Router, clients)
  const created = yield* router.meta({
    _tag: "CreateKeyspace",
    name: "stock",
    shards: 2,
    replicationFactor: 0,
    kind: "Stock",
  })
  expect(created._tag).toBe("KeyspaceCreated")
  return Entities.layer.pipe(Layer.provide(Layer.succeedContext(clients)))
})

describe("the Stock kind on a cluster", () => {
  it("restocks, reserves and refuses to oversell", async () => {
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const entities = yield* cluster
          yield* Effect.gen(function* () {
            expect(yield* Stock.client("apples").Restock({ units: 10 })).toBe(10)
            const left = yield* Effect.forEach(
              [1, 2, 3],
              (units) => Stock.client("apples").Reserve({ units }),
              {
                concurrency: 3,
              },
            )
            expect(Math.min(...left)).toBe(4)
            const refused = yield* Effect.flip(Stock.client("apples").Reserve({ units: 5 }))
            expect(refused).toEqual(new OutOfStock({ available: 4, wanted: 5 }))
            expect(yield* Stock.client("apples").Available()).toBe(4)
            expect(yield* Stock.client("pears").Available()).toBe(0)
          }).pipe(Effect.provide(entities))
        }),
      ).pipe(Logger.withMinimumLogLevel(LogLevel.Warning)),
    )
  }, 120_000)
})
