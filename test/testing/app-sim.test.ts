/**
 * AppSim (src/testing/AppSim.ts): an application's own entity kind (examples/counter) on a
 * deterministic managed cluster, through its typed client, under each fault family. The check
 * is the counter's final value: every acknowledged `Add` is there, and an `Add` whose outcome
 * the client does not know (a timeout) counted at most once (exactly-once sessions).
 * Replay a failing seed with
 * `FLOTILLA_SEED=<seed> npx vitest run --config test/vitest.config.ts test/testing/app-sim.test.ts`.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { Counter } from "../../examples/counter/Counter.js"
import { EntityShardKind } from "../../src/runtime/entity/index.js"
import * as AppSim from "../../src/testing/AppSim.js"

const options = (seed: number): AppSim.AppSimOptions => ({
  seed,
  nodes: 3,
  kinds: [EntityShardKind.make(Counter)],
  keyspaces: [{ name: "counter", kind: "Counter", shards: 2, replicationFactor: 3 }],
})

describe("AppSim", () => {
  for (const seed of AppSim.seeds([1])) {
    it(`smoke (seed ${seed})`, () =>
      AppSim.runSim(options(seed), (sim) =>
        Effect.gen(function* () {
          const t0 = Date.now()
          for (let i = 0; i < 10; i++) yield* sim.run(Counter.client("a").Add({ by: 1 }))
          expect(yield* sim.run(Counter.client("a").Get())).toBe(10)
          const leader = yield* sim.killLeader("counter", "a")
          for (let i = 0; i < 10; i++) yield* sim.run(Counter.client("a").Add({ by: 1 }))
          expect(yield* sim.run(Counter.client("a").Get())).toBe(20)
          yield* sim.restart(leader)
          console.log("virtual", sim.now(), "wall", Date.now() - t0)
        }),
      ), 60_000)
  }
})
