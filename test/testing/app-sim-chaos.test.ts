/**
 * AppSim's seeded chaos schedule (src/testing/AppSimChaos.ts) under Counter clients, the KV
 * store's client in the same cluster, and the failure report. The same seed replays the same
 * run: the same faults at the same instants, the same client outcomes, the same log. Replay a
 * failing seed with
 * `FLOTILLA_SEED=<seed> npx vitest run --config test/vitest.config.ts test/testing/app-sim-chaos.test.ts`.
 */
import { Effect, Option } from "effect"
import { describe, expect, it } from "vitest"
import { Counter } from "../../examples/counter/Counter.js"
import { KvClient } from "../../src/client/KvClient.js"
import { EntityShardKind } from "../../src/runtime/entity/index.js"
import * as AppSim from "../../src/testing/AppSim.js"
import { addAll, checkCounts, type Tally } from "./support/AppSimWorkload.js"

const options = (seed: number): AppSim.AppSimOptions => ({
  seed,
  nodes: 3,
  kinds: [EntityShardKind.make(Counter)],
  keyspaces: [
    { name: "counter", kind: "Counter", shards: 2, replicationFactor: 3 },
    { name: "kv", shards: 1, replicationFactor: 3 },
  ],
})

/** 20 virtual seconds of chaos under clients; what happened. */
const chaosRun = (seed: number) =>
  AppSim.runSim(options(seed), (sim) =>
    Effect.gen(function* () {
      const work = addAll(sim, ["a", "b", "c"], { forMs: 20_000 })
      const report = yield* sim.chaos({ forMs: 20_000, holdMs: { min: 1_000, max: 4_000 } })
      yield* sim.heal
      const tallies: ReadonlyArray<Tally> = yield* work
      yield* checkCounts(sim, tallies)
      yield* sim.settled()
      return { report, tallies: tallies.map((t) => ({ ...t })), logs: sim.logs(), now: sim.now() }
    }),
  )

describe("AppSim: chaos", () => {
  for (const seed of AppSim.seeds([5])) {
    it(`a seeded schedule keeps every acknowledged add, and replays exactly (seed ${seed})`, async () => {
      const first = await chaosRun(seed)
      expect(first.report.played.length).toBeGreaterThan(3)
      const second = await chaosRun(seed)
      expect(second.report).toEqual(first.report)
      expect(second.tallies).toEqual(first.tallies)
      expect(second.now).toBe(first.now)
      expect(second.logs).toEqual(first.logs)
    }, 120_000)

    it(
      `the KV client runs beside the entity kinds, across a leader kill (seed ${seed})`,
      () =>
        AppSim.runSim(options(seed), (sim) =>
          Effect.gen(function* () {
            yield* sim.run(Effect.flatMap(KvClient, (kv) => kv.put("greeting", "hello")))
            yield* sim.killLeader("kv", "greeting")
            const value = yield* sim.run(
              Effect.flatMap(KvClient, (kv) => kv.get("greeting")),
              "reading the greeting",
            )
            expect(Option.map(value, (v) => new TextDecoder().decode(v))).toEqual(Option.some("hello"))
            expect(yield* sim.run(Counter.client("x").Add({ by: 2 }))).toBe(2)
          }),
        ),
      60_000,
    )
  }

  it("a failure names the seed, the virtual time, the replay line and the last log lines", async () => {
    const failed = await AppSim.runSim(options(77), (sim) =>
      Effect.gen(function* () {
        yield* sim.crash(2)
        yield* sim.advance(1_000)
        expect(yield* sim.run(Counter.client("a").Get())).toBe(-1)
      }),
    ).then(
      () => undefined,
      (e: unknown) => String(e instanceof Error ? e.message : e),
    )
    expect(failed).toMatch(/\[seed 77, t=\d+ ms\]/)
    expect(failed).toContain("replay: FLOTILLA_SEED=77 npx vitest run")
    expect(failed).toContain("[test] crash n2")
  }, 60_000)

  it("a loop death the test did not take fails the run", async () => {
    const failed = await AppSim.runSim(options(78), (sim) =>
      Effect.gen(function* () {
        yield* sim.diskFault(1, "failedWrite")
        yield* sim.until(
          "node 1 down",
          Effect.sync(() => !sim.isUp(1)),
        )
      }),
    ).then(
      () => undefined,
      (e: unknown) => String(e instanceof Error ? e.message : e),
    )
    expect(failed).toMatch(/loops died \(a process would have exited\): node 1: flotilla: loop \w+ died: /)
  }, 60_000)
})
