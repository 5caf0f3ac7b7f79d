/**
 * Issue 4's cluster scenarios on the in-memory transport, in the deterministic runtime
 * simulation (src/testing/RuntimeSim.ts): 3 real nodes, 100 groups of the test state machine.
 * Replay a failing seed with `FLOTILLA_SEED=<seed> npx vitest run --config test/vitest.config.ts <file>`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as RuntimeSim from "../../src/testing/RuntimeSim.js"

const GROUPS = 100

describe("runtime simulation: a 3-node cluster with 100 groups", () => {
  for (const seed of RuntimeSim.seeds([1, 2, 3])) {
    it.effect(
      `elects a leader in every group and applies 2,000 writes identically on every replica (seed ${seed})`,
      () =>
        RuntimeSim.run({ seed, nodes: 3, groups: GROUPS }, (sim) =>
          Effect.gen(function* () {
            const leaders = yield* sim.waitForLeaders({ timeoutMs: 20_000 })
            expect(leaders.size).toBe(GROUPS)
            // Every node leads some groups: the first elections are spread by the seeded jitter.
            const all = sim.groupIds.map(Number)
            const report = yield* sim.workload({ groups: all, writes: 2_000, concurrency: 64, readEvery: 10 })
            expect(report.writes).toBe(2_000)
            expect(report.reads).toBe(200)
            const finals = yield* sim.verify({ groups: all })
            expect(finals.size).toBe(GROUPS)
            for (const s of finals.values()) expect(s.count).toBe(20)
            // Every replica of every group applied the same entries (same applied index and state).
            for (const g of all) {
              const views = yield* sim.replicas(g)
              expect(views.length).toBe(3)
              expect(new Set(views.map((v) => `${v.status.applied}:${v.reply}`)).size).toBe(1)
            }
          }),
        ),
    )
  }
})
