/**
 * AppSim (src/testing/AppSim.ts): an application's own entity kind (examples/counter) on a
 * deterministic managed cluster of 3 nodes, called through its typed client while faults of each
 * family are played (clocks skewed per node included). The check is each counter's final value,
 * read through its shard's leader: every acknowledged `Add` is in it, and every `Add` whose
 * outcome the client does not know (it gave up) at most once (exactly-once sessions). Replay a failing seed with
 * `FLOTILLA_SEED=<seed> npx vitest run --config test/vitest.config.ts test/testing/app-sim.test.ts`.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { Counter } from "../../examples/counter/Counter.js"
import { EntityShardKind } from "../../src/runtime/entity/index.js"
import * as AppSim from "../../src/testing/AppSim.js"
import { addAll, checkCounts } from "./support/AppSimWorkload.js"

const options = (seed: number): AppSim.AppSimOptions => ({
  seed,
  nodes: 3,
  kinds: [EntityShardKind.make(Counter)],
  keyspaces: [{ name: "counter", kind: "Counter", shards: 2, replicationFactor: 3 }],
})

const IDS = ["a", "b", "c", "d"]
const TIMEOUT = 60_000

describe("AppSim: the Counter kind under faults", () => {
  for (const seed of AppSim.seeds([1, 2])) {
    it(
      `leader kills while clients add (seed ${seed})`,
      () =>
        AppSim.runSim(options(seed), (sim) =>
          Effect.gen(function* () {
            const work = addAll(sim, IDS, { forMs: 15_000 })
            yield* sim.advance(500)
            const first = yield* sim.killLeader("counter", "a")
            yield* sim.advance(3_000)
            yield* sim.restart(first)
            const second = yield* sim.killLeader("counter", { shard: 1 })
            yield* sim.advance(3_000)
            yield* sim.restart(second)
            yield* checkCounts(sim, yield* work, { allAcknowledged: true })
          }),
        ),
      TIMEOUT,
    )
  }

  for (const seed of AppSim.seeds([1])) {
    it(
      `a symmetric partition, then a one-way cut, while clients add (seed ${seed})`,
      () =>
        AppSim.runSim(options(seed), (sim) =>
          Effect.gen(function* () {
            const work = addAll(sim, IDS, { forMs: 15_000 })
            yield* sim.advance(500)
            const leader = (yield* sim.leaderOf("counter", "a"))!
            const others = sim.nodeIds().filter((n) => n !== leader)
            yield* sim.partition([leader], others)
            yield* sim.advance(6_000)
            // The old leader lost its quorum: the majority side leads now.
            expect(others).toContain(yield* sim.leaderOf("counter", "a"))
            yield* sim.heal
            yield* sim.advance(2_000)
            const now = (yield* sim.leaderOf("counter", "a"))!
            // The leader hears nobody: its followers time out and elect another.
            for (const n of sim.nodeIds()) if (n !== now) yield* sim.cut(now, n)
            yield* sim.advance(6_000)
            yield* sim.heal
            yield* checkCounts(sim, yield* work, { allAcknowledged: true })
          }),
        ),
      TIMEOUT,
    )

    it(
      `clocks skewed and drifting per node, and a leader kill, while clients add (seed ${seed})`,
      () =>
        AppSim.runSim(options(seed), (sim) =>
          Effect.gen(function* () {
            yield* sim.skewClock(1, { offsetMs: 20_000, drift: 0.3 })
            yield* sim.skewClock(2, { offsetMs: -20_000, drift: -0.2 })
            const work = addAll(sim, IDS, { forMs: 15_000 })
            yield* sim.advance(2_000)
            const leader = yield* sim.killLeader("counter", "a")
            yield* sim.advance(3_000)
            // A restarted node keeps its machine's clock.
            yield* sim.restart(leader)
            yield* sim.skewClock(3, { offsetMs: 60_000 })
            yield* checkCounts(sim, yield* work, { allAcknowledged: true })
          }),
        ),
      TIMEOUT,
    )

    it(
      `message loss, delay and duplication on every link, crash and isolation (seed ${seed})`,
      () =>
        AppSim.runSim(options(seed), (sim) =>
          Effect.gen(function* () {
            yield* sim.linkFaults({ drop: 0.2, duplicate: 0.2, delay: { min: "1 millis", max: "40 millis" } })
            const work = addAll(sim, IDS, { forMs: 15_000 })
            yield* sim.advance(2_000)
            yield* sim.crash(2)
            yield* sim.advance(3_000)
            yield* sim.restart(2)
            yield* sim.isolate(3)
            yield* sim.advance(3_000)
            yield* sim.heal
            const tallies = yield* work
            yield* sim.clearLinkFaults
            yield* checkCounts(sim, tallies, { allAcknowledged: true })
            const stats = yield* sim.placement.network.totals
            expect(stats.dropped).toBeGreaterThan(0)
            expect(stats.duplicated).toBeGreaterThan(0)
          }),
        ),
      TIMEOUT,
    )
  }
})
