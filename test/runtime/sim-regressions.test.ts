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

  // A quiesced leader never ticks, so it never checks its quorum: cut off from its followers,
  // it kept leading (and serving its group subject) for as long as the partition lasted. Two
  // fixes: liveness wakes the quiesced groups led here that have a voter on a silent node, and
  // a leader only quiesces while check-quorum would pass (else it fell asleep again, at the
  // very tick its second check was due).
  for (const seed of RuntimeSim.seeds([21, 22])) {
    it.effect(`an isolated node's quiesced leaders step down (seed ${seed})`, () =>
      RuntimeSim.run({ seed, nodes: 3, groups: 10 }, (sim) =>
        Effect.gen(function* () {
          const leaders = yield* sim.waitForLeaders()
          yield* sim.until(
            "every group quiesced",
            Effect.map(
              Effect.forEach(sim.nodeIds, (n) => sim.stats(n)),
              (all) => all.every((s) => s.activeGroups === 0),
            ),
          )
          const victim = [...leaders.values()][0]!
          const others = sim.nodeIds.filter((n) => n !== victim)
          yield* sim.isolate(victim)
          yield* sim.until(
            "the isolated node leads no group",
            Effect.map(sim.status(victim), (gs) => gs.every((g) => !g.isLeader)),
            { timeoutMs: 10_000 },
          )
          const after = yield* sim.waitForLeaders({ among: others })
          expect(after.size).toBe(10)
          yield* sim.heal
          yield* sim.workload({ groups: sim.groupIds.map(Number), writes: 50 })
          yield* sim.verify({ groups: sim.groupIds.map(Number) })
        }),
      ),
    )
  }
})
