/**
 * Runtime bugs the simulation found, each pinned by the seed that exposed it (and a few more).
 * Replay with FLOTILLA_SEED=<seed>.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as RuntimeSim from "../../src/testing/RuntimeSim.js"

describe("runtime simulation: regressions", () => {
  // Pipelined rounds collected a replica again while the write carrying its own snapshot was in
  // flight, so the same snapshot rode in two writes; the store refused the second ("snapshot
  // at index 42 is not newer than the stored snapshot at 42") and the group stopped on that node.
  for (const seed of RuntimeSim.seeds([11, 12])) {
    it.effect(
      `a snapshot of our own state is persisted once, however many rounds overlap its write (seed ${seed})`,
      () =>
        RuntimeSim.run(
          { seed, nodes: 3, groups: 10, settings: { snapshotEntries: 20, keepEntries: 5 } },
          (sim) =>
            Effect.gen(function* () {
              const all = sim.groupIds.map(Number)
              yield* sim.waitForLeaders()
              yield* sim.workload({ groups: all, writes: 1_000, concurrency: 64 })
              for (const n of sim.nodeIds) {
                for (const g of yield* sim.status(n)) expect(g.stopped).toBeUndefined()
              }
              const finals = yield* sim.verify({ groups: all })
              for (const s of finals.values()) expect(s.count).toBe(100)
            }),
        ),
    )
  }
})
