/**
 * AppSim's membership changes while the Counter kind's clients run: a node added, a node drained
 * and removed (its shards move away), a keyspace's replication factor raised; shard moves
 * happen under the clients, and every acknowledged add is kept. Replay a failing seed with
 * `FLOTILLA_SEED=<seed> npx vitest run --config test/vitest.config.ts test/testing/app-sim-membership.test.ts`.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { Counter } from "../../examples/counter/Counter.js"
import { nodeOfReplica } from "../../src/raft/Ids.js"
import { EntityShardKind } from "../../src/runtime/entity/index.js"
import * as AppSim from "../../src/testing/AppSim.js"
import { addAll, checkCounts } from "./support/AppSimWorkload.js"

const IDS = ["a", "b", "c", "d"]

/** The nodes holding a replica of a keyspace's groups, as the metadata group records them. */
const replicaNodes = (sim: AppSim.AppSim, keyspace: string) =>
  Effect.map(sim.placement.metaLeader(), (leader) => {
    const state = leader!.state
    const groups = new Set(state.keyspaces.find((k) => k.name === keyspace)!.shards.map((s) => s.group))
    return state.groups
      .filter((g) => groups.has(g.id))
      .map((g) => g.replicas.map((r) => nodeOfReplica(r.id) as number).sort())
  })

describe("AppSim: membership changes while clients run", () => {
  for (const seed of AppSim.seeds([1])) {
    it(
      `a 4th node joins, node 1 is drained and removed, the replication factor goes from 2 to 3 (seed ${seed})`,
      () =>
        AppSim.runSim(
          {
            seed,
            nodes: 3,
            kinds: [EntityShardKind.make(Counter)],
            keyspaces: [{ name: "counter", kind: "Counter", shards: 4, replicationFactor: 2 }],
          },
          (sim) =>
            Effect.gen(function* () {
              const clientsUntil = sim.now() + 40_000
              const work = addAll(sim, IDS, { forMs: 40_000 })
              yield* sim.advance(1_000)
              expect(yield* sim.addNode()).toBe(4)
              // Node 1 bootstrapped the cluster and holds the metadata group: its shards and its
              // metadata replica move away while the clients add.
              const before = (yield* replicaNodes(sim, "counter")).flat()
              expect(before).toContain(1)
              yield* sim.remove(1)
              expect(sim.isUp(1)).toBe(false)
              expect((yield* replicaNodes(sim, "counter")).flat()).not.toContain(1)
              yield* sim.setReplicationFactor("counter", 3)
              yield* sim.settled()
              // All of it while the clients were adding.
              expect(sim.now()).toBeLessThan(clientsUntil)
              const after = yield* replicaNodes(sim, "counter")
              expect(after.every((nodes) => nodes.length === 3 && !nodes.includes(1))).toBe(true)
              const tallies = yield* work
              yield* checkCounts(sim, tallies, { allAcknowledged: true })
            }),
        ),
      120_000,
    )
  }
})
