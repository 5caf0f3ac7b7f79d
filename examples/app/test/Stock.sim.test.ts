/**
 * The Stock kind under faults, on the simulated cluster of `flotilla/testing` (AppSim): a
 * deterministic run from a seed, on virtual time, with the kind's own typed client. Whatever the
 * faults, no reservation acknowledged is lost and the stock is never oversold.
 */
import { Effect } from "effect"
import { EntityShardKind } from "flotilla"
import { AppSim } from "flotilla/testing"
import { expect, it } from "vitest"
import { Stock } from "../src/Stock.js"

for (const seed of AppSim.seeds([7]))
  it(
    `never oversells, across a leader kill and a partition (seed ${seed})`,
    () =>
      AppSim.runSim(
        {
          seed,
          kinds: [EntityShardKind.make(Stock)],
          keyspaces: [{ name: "stock", kind: "Stock", shards: 2 }],
          replay: "npx vitest run test/Stock.sim.test.ts",
        },
        (sim) =>
          Effect.gen(function* () {
            yield* sim.run(Stock.client("apples").Restock({ units: 50 }))
            let acknowledged = 0
            const reserve = Stock.client("apples")
              .Reserve({ units: 1 })
              .pipe(
                Effect.tap(() => {
                  acknowledged++
                }),
                Effect.ignore, // refused (out of stock) or gave up: may or may not have happened
                Effect.zipLeft(Effect.sleep("50 millis")),
              )
            const clients = sim.fork(Effect.all([Effect.repeatN(reserve, 39), Effect.repeatN(reserve, 39)]))
            const killed = yield* sim.killLeader("stock", "apples")
            yield* sim.advance(2_000)
            yield* sim.restart(killed)
            const leader = (yield* sim.leaderOf("stock", "apples"))!
            yield* sim.partition(
              [leader],
              sim.nodeIds().filter((n) => n !== leader),
            )
            yield* sim.advance(3_000)
            yield* sim.heal
            yield* sim.join(clients)
            const left = yield* sim.run(Stock.client("apples").Available())
            expect(left).toBeGreaterThanOrEqual(0)
            expect(left).toBeLessThanOrEqual(50 - acknowledged)
            expect(acknowledged).toBeGreaterThan(0)
          }),
      ),
    120_000,
  )
