/**
 * The worked example of docs/testing.md ("Testing your application's kinds"), word for word but
 * for the import paths: the Counter kind under a partition, a crash and a full disk. Keep the two
 * in step. Replay a failing seed with
 * `FLOTILLA_SEED=<seed> npx vitest run --config test/vitest.config.ts test/testing/app-sim-example.test.ts`.
 */
import { Effect } from "effect"
import { expect, it } from "vitest"
import { Counter } from "../../examples/counter/Counter.js"
import { EntityShardKind } from "../../src/runtime/entity/index.js"
import { AppSim } from "../../src/testing/index.js"

const cluster = (seed: number): AppSim.AppSimOptions => ({
  seed,
  kinds: [EntityShardKind.make(Counter)],
  keyspaces: [{ name: "counter", kind: "Counter", shards: 2 }],
  replay: "npx vitest run --config test/vitest.config.ts test/testing/app-sim-example.test.ts",
})

for (const seed of AppSim.seeds([3]))
  it(`keeps every acknowledged add under a partition, a crash and a full disk (seed ${seed})`, () =>
    AppSim.runSim(cluster(seed), (sim) =>
      Effect.gen(function* () {
        let acknowledged = 0
        const add = Counter.client("a")
          .Add({ by: 1 })
          .pipe(
            Effect.tap(() => {
              acknowledged++
            }),
            Effect.ignore, // an add that gave up may or may not be counted
            Effect.zipLeft(Effect.sleep("100 millis")),
          )
        const clients = sim.fork(Effect.repeatN(add, 199))
        const leader = (yield* sim.leaderOf("counter", "a"))!
        yield* sim.partition(
          [leader],
          sim.nodeIds().filter((n) => n !== leader),
        )
        yield* sim.advance(5_000)
        yield* sim.heal
        yield* sim.crash(2)
        yield* sim.advance(3_000)
        yield* sim.restart(2)
        yield* sim.diskFault(3, "full")
        yield* sim.until(
          "node 3 ended by its full disk",
          Effect.sync(() => !sim.isUp(3)),
        )
        expect(sim.takeLoopDeaths()).toHaveLength(1)
        yield* sim.clearDiskFault(3)
        yield* sim.restart(3)
        yield* sim.join(clients)
        const value = yield* sim.run(Counter.client("a").Get())
        expect(value).toBeGreaterThanOrEqual(acknowledged)
        expect(value).toBeLessThanOrEqual(200)
      }),
    ))
