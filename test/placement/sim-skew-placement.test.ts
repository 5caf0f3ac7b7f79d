/**
 * The managed cluster (PlacementSim) with node clocks minutes apart (SimClock.ts,
 * `sim.skewClock`). The metadata leader stamps each node's last heartbeat with ITS clock
 * (`receivedAt`) into the replicated state, and a new metadata leader judges silence against
 * its own clock (`nodeHealth`: now - lastHeartbeat):
 * - a new leader whose clock is minutes AHEAD must not take every node for failed: the
 *   driver's warm-up (every node reported since the takeover) covers it;
 * - a new leader whose clock is minutes BEHIND sees every recorded heartbeat in its future:
 *   a node that died stays "up" until that leader's clock passes its last heartbeat, so its
 *   replicas are replaced minutes late (decision 0126; a known limitation, pinned below with
 *   `it.fails`: when it is fixed, make it a plain `it`).
 * Replay with FLOTILLA_SEED=<seed>.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { nodeOfReplica } from "../../src/raft/Ids.js"
import { type PlacementSim, runSim, SimFailed, seeds } from "../../src/testing/PlacementSim.js"
import { balanced, waitUntil } from "../../src/testing/PlacementSimChecks.js"

/** 4 nodes, a keyspace of 8 shards of R=3, balanced; the metadata leader then. */
const balancedCluster = (sim: PlacementSim) =>
  Effect.gen(function* () {
    const created = yield* sim.meta({ _tag: "CreateKeyspace", name: "kv", shards: 8, replicationFactor: 3 })
    if (created._tag !== "KeyspaceCreated") return yield* Effect.fail(new SimFailed(JSON.stringify(created)))
    yield* waitUntil(sim, "the keyspace balanced", balanced, 60_000)
    return (yield* sim.metaLeader())!.node
  })

describe("placement simulation: node clocks minutes apart", () => {
  for (const seed of seeds([31])) {
    it(
      `a metadata leader change to a clock minutes ahead replaces no live node's replicas (seed ${seed})`,
      () =>
        runSim({ seed, nodes: 4 }, (sim) =>
          Effect.gen(function* () {
            const first = yield* balancedCluster(sim)
            for (const n of sim.nodeIds())
              if (n !== first) yield* sim.skewClock(n, { offsetMs: 300_000, drift: 0.1 })
            // A crash of the metadata leader shorter than the down timeout: no node fails.
            yield* sim.crash(first)
            yield* sim.advance(1_000)
            yield* sim.restart(first)
            yield* sim.until(
              "a new metadata leader",
              Effect.map(sim.metaLeader(), (l) => l !== undefined && l.node !== first),
              { timeoutMs: 30_000 },
            )
            for (let i = 0; i < 60; i++) {
              yield* sim.advance(250)
              yield* sim.checkQuorum()
            }
            const { state } = (yield* sim.metaLeader())!
            const replaced = [...state.operators, ...state.history].filter(
              (o) => o.spec.reason === "replace-failed",
            )
            expect(replaced.map((o) => JSON.stringify(o.spec))).toEqual([])
            expect(state.nodes.map((n) => n.state)).toEqual(["up", "up", "up", "up"])
            expect(sim.violations).toEqual([])
          }),
        ),
      120_000,
    )
  }

  // With the clocks in step this seed replaces the dead node's replicas 9.5 s after the crash.
  for (const seed of seeds([32])) {
    it.fails(
      `KNOWN LIMITATION: a dead metadata leader's replicas wait for a successor clock minutes behind (seed ${seed})`,
      () =>
        runSim({ seed, nodes: 4 }, (sim) =>
          Effect.gen(function* () {
            const first = yield* balancedCluster(sim)
            for (const n of sim.nodeIds())
              if (n !== first) yield* sim.skewClock(n, { offsetMs: -300_000, drift: -0.1 })
            yield* sim.crash(first)
            yield* waitUntil(
              sim,
              "the dead node's replicas replaced",
              (o) => {
                const on = o.state.groups.filter((g) => g.replicas.some((r) => nodeOfReplica(r.id) === first))
                return on.length === 0 ? undefined : `${on.length} groups still on node ${first}`
              },
              30_000,
            )
          }),
        ),
      120_000,
    )
  }
})
