/**
 * Random fault schedules in the runtime simulation: the seed draws a schedule of crashes,
 * restarts, isolations, Raft-only partitions (the bus stays whole), heals and lossy,
 * duplicating, reordering links, played during a workload of writes and linearizable reads.
 * Afterwards every fault is lifted and every node restarted: the replicas must converge and
 * the client history must agree with them (no acknowledged write lost, none applied twice,
 * no stale linearizable read). Each fault appears in the failure report (`NOTE` lines).
 * Replay with FLOTILLA_SEED=<seed>.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as RuntimeSim from "../../src/testing/RuntimeSim.js"
import { SeededRandom } from "../../src/transport/MemoryNetwork.js"

const GROUPS = 20

describe("runtime simulation: random fault schedules", () => {
  for (const seed of RuntimeSim.seeds([91, 92, 93])) {
    it.effect(
      `replicas converge and the history holds after crashes, cuts and bad links (seed ${seed})`,
      () =>
        RuntimeSim.run(
          {
            seed,
            nodes: 3,
            groups: GROUPS,
            settings: { snapshotEntries: 25, keepEntries: 5, quiesceAfterTicks: 10 },
            client: { requestTimeoutMs: 1_500, deadlineMs: 120_000 },
          },
          (sim) =>
            Effect.gen(function* () {
              const rnd = new SeededRandom(seed ^ 0x5eed)
              const pick = () => sim.nodeIds[Math.floor(rnd.next() * sim.nodeIds.length)]!
              const all = sim.groupIds.map(Number)
              yield* sim.waitForLeaders({ timeoutMs: 30_000 })
              const writes = yield* sim.fork(
                sim.client.workload({ groups: all, writes: 800, concurrency: 16, readEvery: 3, pauseMs: 30 }),
              )
              for (let step = 0; step < 10; step++) {
                yield* sim.advance(500 + Math.floor(rnd.next() * 1_500))
                const r = rnd.next()
                const n = pick()
                const down = sim.nodeIds.filter((x) => !sim.isUp(x))
                if (r < 0.25 && down.length === 0) {
                  sim.note(`crash ${n}`)
                  yield* sim.crash(n)
                } else if (r < 0.45 && down.length > 0) {
                  sim.note(`restart ${down[0]}`)
                  yield* sim.restart(down[0]!)
                } else if (r < 0.6) {
                  sim.note(`isolate ${n}`)
                  yield* sim.isolate(n)
                } else if (r < 0.7) {
                  sim.note(`partition ${n} | rest (Raft only)`)
                  yield* sim.partition(
                    [n],
                    sim.nodeIds.filter((x) => x !== n),
                  )
                } else if (r < 0.85) {
                  sim.note("heal")
                  yield* sim.heal
                } else if (r < 0.95) {
                  sim.note("bad links")
                  yield* sim.setFaults({
                    drop: 0.1,
                    duplicate: 0.1,
                    delay: { min: 0, max: 30 },
                    reorder: 0.3,
                  })
                } else {
                  sim.note("good links")
                  yield* sim.clearFaults
                }
              }
              sim.note("lift every fault")
              yield* sim.heal
              yield* sim.clearFaults
              for (const n of sim.nodeIds) if (!sim.isUp(n)) yield* sim.restart(n)
              const report = yield* sim.join(writes, { timeoutMs: 300_000 })
              expect(report.writes).toBe(800)
              yield* sim.verify({ groups: all, timeoutMs: 60_000 })
            }),
        ),
    )
  }
})
