/**
 * An in-process KV cluster (MemoryCluster) with a revisioned client, for the KvRev and recipe
 * tests: `withCluster` runs a body with the cluster and a client layer; `groupOf` finds the
 * group serving a key in the default keyspace.
 */
import { Effect, Layer } from "effect"
import { Kv } from "../../../shards/kv/Kv.js"
import { type KvRevClient, layer as revLayer } from "../../../src/client/KvRevClient.js"
import * as Router from "../../../src/client/Router.js"
import { slotOf } from "../../../src/runtime/entity/EntityId.js"
import * as MemoryCluster from "./MemoryCluster.js"

export const withCluster = <A, E>(
  body: (
    cluster: MemoryCluster.MemoryCluster,
    client: Layer.Layer<KvRevClient | Router.Router>,
  ) => Effect.Effect<A, E>,
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const cluster = yield* MemoryCluster.make({ kinds: [Kv] })
      const router = Router.layer({ cluster: cluster.cluster }).pipe(Layer.provide(cluster.clientBus))
      return yield* body(cluster, revLayer.pipe(Layer.provideMerge(router)))
    }),
  )

/** The group serving `key` in the default keyspace. */
export const groupOf = (key: string) =>
  Effect.gen(function* () {
    const map = yield* (yield* Router.Router).shardMap()
    const slot = slotOf(new TextEncoder().encode(key))
    return map.keyspaces.get("kv")!.find((s) => slot >= s.start && slot < s.end)!.group
  })
