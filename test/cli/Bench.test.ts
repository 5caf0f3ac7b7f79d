/**
 * `flotilla bench` leaves the store as it found it: the keys a run wrote are deleted afterwards
 * (unless `--keep`), and keys it did not write are never touched.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import { Kv } from "../../shards/kv/Kv.js"
import * as Bench from "../../src/cli/Bench.js"
import { KvClient, layer as kvLayer } from "../../src/client/KvClient.js"
import * as Router from "../../src/client/Router.js"
import * as MemoryCluster from "../client/support/MemoryCluster.js"

describe("bench", () => {
  it.live(
    "removes exactly the keys it wrote",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* MemoryCluster.make({ kinds: [Kv] })
          const router = Router.layer({ cluster: cluster.cluster }).pipe(Layer.provide(cluster.clientBus))
          const kv = Context.get(yield* Layer.build(kvLayer.pipe(Layer.provide(router))), KvClient)
          yield* kv.put("bench-user-data", "mine")
          yield* kv.put("other", "mine too")
          const result = yield* Bench.run(
            kv,
            { clients: 4, seconds: 1, keys: 40, valueBytes: 8, reads: 0.3, staleReads: false },
            () => Effect.void,
          )
          expect(result.written.size).toBeGreaterThan(0)
          const before = yield* kv.scan({ prefix: "bench-", limit: 1000 })
          expect(before.entries.length).toBe(result.written.size + 1)
          const removed = yield* Bench.removeKeys(kv, result.written, 4)
          expect(removed).toEqual({ deleted: result.written.size, failed: [] })
          const after = yield* kv.scan({ limit: 1000 })
          expect(after.entries.map((e) => new TextDecoder().decode(e.key))).toEqual([
            "bench-user-data",
            "other",
          ])
          expect(Option.isSome(yield* kv.get("other"))).toBe(true)
        }),
      ),
    120_000,
  )
})
