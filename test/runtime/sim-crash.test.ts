/**
 * Crash and recovery in the runtime simulation: the node leading the most groups dies
 * abruptly (its disk keeps what was written, nothing else); every group it led elects a new
 * leader and keeps committing; it restarts on the same disk and catches up, by snapshot where
 * the leaders compacted past its log. Replay with FLOTILLA_SEED=<seed>.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as RuntimeSim from "../../src/testing/RuntimeSim.js"

const GROUPS = 100

describe("runtime simulation: crash of the busiest leader", () => {
  for (const seed of RuntimeSim.seeds([11, 12, 13])) {
    it.effect(
      `its groups elect new leaders, keep committing, and it catches up by snapshot after restart (seed ${seed})`,
      () =>
        RuntimeSim.run(
          { seed, nodes: 3, groups: GROUPS, settings: { snapshotEntries: 40, keepEntries: 10 } },
          (sim) =>
            Effect.gen(function* () {
              const all = sim.groupIds.map(Number)
              const before = yield* sim.waitForLeaders()
              yield* sim.workload({ groups: all, writes: 300, prefix: "a" })
              const { victim, led } = RuntimeSim.busiestLeader(before)
              const live = sim.nodeIds.filter((n) => n !== victim)

              // Crash in the middle of a workload: writes in flight at the victim have unknown outcomes.
              const writes = yield* sim.fork(
                sim.client.workload({ groups: all, writes: 400, prefix: "b", readEvery: 7 }),
              )
              yield* sim.advance(5)
              yield* sim.crash(victim)
              const after = yield* sim.waitForLeaders({ among: live, timeoutMs: 30_000 })
              for (const g of led) expect(live).toContain(after.get(g))
              yield* sim.join(writes)

              // Enough writes to some of its groups that their leaders snapshot and compact past its log.
              const behind = led.slice(0, 5)
              yield* sim.workload({ groups: behind, writes: behind.length * 50, prefix: "c" })
              yield* sim.verify({ groups: all, nodes: live })

              yield* sim.restart(victim)
              yield* sim.verify({ groups: all, timeoutMs: 60_000 })
              const stats = yield* sim.stats(victim)
              expect(stats.snapshotsInstalled).toBeGreaterThan(0)
              expect(stats.groups).toBe(GROUPS)

              // The restarted node takes part again: a last round of writes everywhere.
              yield* sim.workload({ groups: all, writes: 200, prefix: "d" })
              const last = yield* sim.verify({ groups: all })
              let total = 0
              for (const s of last.values()) total += s.count
              const summary = sim.client.history.writeSummary()
              let acked = 0
              for (const s of summary.values()) acked += s.acked
              expect(acked).toBe(300 + 400 + behind.length * 50 + 200)
              expect(total).toBeGreaterThanOrEqual(acked)
            }),
        ),
    )
  }
})
