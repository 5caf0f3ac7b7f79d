/**
 * AppSim's seeded chaos schedule (src/testing/AppSimChaos.ts) under Counter clients (final
 * values; a recorded history checked against the Counter model), the KV store's client in the
 * same cluster, and the failure report. The same seed replays the same
 * run: the same faults at the same instants, the same client outcomes, the same log. Replay a
 * failing seed with
 * `FLOTILLA_SEED=<seed> npx vitest run --config test/vitest.config.ts test/testing/app-sim-chaos.test.ts`.
 */
import { Effect, Option, Random } from "effect"
import { describe, expect, it } from "vitest"
import { Counter } from "../../examples/counter/Counter.js"
import { KvClient } from "../../src/client/KvClient.js"
import { EntityShardKind } from "../../src/runtime/entity/index.js"
import * as AppSim from "../../src/testing/AppSim.js"
import * as History from "../../src/testing/History.js"
import { addAll, checkCounts, type Tally } from "./support/AppSimWorkload.js"
import { type CounterInput, type CounterOutput, counterModel } from "./support/CounterModel.js"

const FILE = "test/testing/app-sim-chaos.test.ts"

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
      `under chaos, the recorded history of concurrent Counter clients is linearizable (seed ${seed})`,
      () =>
        AppSim.runSim(options(seed), (sim) =>
          Effect.gen(function* () {
            const history = yield* sim.run(History.make<CounterInput, CounterOutput>())
            const end = sim.now() + 20_000
            // Three clients on two counters: adds, reads and resets, each client its own seeded draws.
            const client = (n: number) =>
              Effect.gen(function* () {
                while (sim.now() < end) {
                  const id = (yield* Random.nextBoolean) ? "p" : "q"
                  const dice = yield* Random.nextIntBetween(0, 10)
                  const c = Counter.client(id)
                  const call =
                    dice < 6
                      ? history.record(n, { id, op: "add", by: 1 }, c.Add({ by: 1 }))
                      : dice < 9
                        ? history.record(n, { id, op: "get" }, c.Get())
                        : history.record(n, { id, op: "reset" }, c.Reset())
                  yield* Effect.ignore(call)
                  yield* Effect.sleep(`${yield* Random.nextIntBetween(50, 250)} millis`)
                }
              })
            const clients = [1, 2, 3].map((n) => sim.fork(client(n)))
            const report = yield* sim.chaos({ forMs: 20_000, holdMs: { min: 1_000, max: 4_000 } })
            yield* sim.heal
            for (const f of clients) yield* sim.join(f)
            const ops = yield* history.operations
            expect(ops.length).toBeGreaterThan(100)
            expect(report.played.length).toBeGreaterThan(3)
            const verdict = yield* sim.run(history.check(counterModel, { seed, file: FILE }))
            expect(verdict.ok, verdict.report).toBe(true)
          }),
        ),
      60_000,
    )

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
