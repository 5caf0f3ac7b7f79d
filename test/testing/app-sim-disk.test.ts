/**
 * AppSim's disk faults (src/testing/AppSimDisk.ts) on the Counter kind: a full disk, a failed
 * write and a failed sync end the node as the production policy says (decision 0071: the store
 * loop dies, the process exits), it stays down, and once the fault is cleared a restart brings it
 * back on its disk, serving every acknowledged add. A group whose stored entries read back
 * corrupted stays stopped on that node only (it is not loaded); the shard goes on with its other
 * replicas. Replay a failing seed with
 * `FLOTILLA_SEED=<seed> npx vitest run --config test/vitest.config.ts test/testing/app-sim-disk.test.ts`.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { Counter } from "../../examples/counter/Counter.js"
import { GroupId } from "../../src/raft/Ids.js"
import { EntityShardKind } from "../../src/runtime/entity/index.js"
import * as AppSim from "../../src/testing/AppSim.js"
import { addAll, checkCounts } from "./support/AppSimWorkload.js"

const options = (seed: number): AppSim.AppSimOptions => ({
  seed,
  nodes: 3,
  kinds: [EntityShardKind.make(Counter)],
  keyspaces: [{ name: "counter", kind: "Counter", shards: 2, replicationFactor: 3 }],
})

const IDS = ["a", "b", "c"]
const TIMEOUT = 60_000

/** Waits until the node's replica of `group` has applied what the shard's leader committed. */
const caughtUp = (sim: AppSim.AppSim, node: number, group: number) =>
  sim.until(
    `node ${node} caught up on group ${group}`,
    Effect.map(sim.placement.statuses(), (all) => {
      const mine = all.get(node as never)?.find((g) => g.groupId === group)
      const leader = [...all.values()].flat().find((g) => g.groupId === group && g.isLeader)
      return (
        mine !== undefined &&
        leader !== undefined &&
        mine.stopped === undefined &&
        mine.applied >= leader.commit
      )
    }),
  )

describe("AppSim: disk faults", () => {
  for (const seed of AppSim.seeds([1])) {
    it(
      `a full disk ends the node; still full, a restart ends it again; cleared, it comes back (seed ${seed})`,
      () =>
        AppSim.runSim(options(seed), (sim) =>
          Effect.gen(function* () {
            const work = addAll(sim, IDS, { forMs: 12_000 })
            yield* sim.advance(1_000)
            yield* sim.diskFault(2, "full")
            yield* sim.until(
              "node 2 down",
              Effect.sync(() => !sim.isUp(2)),
            )
            const deaths = sim.takeLoopDeaths()
            expect(deaths.length).toBe(1)
            expect(deaths[0]).toMatch(/^node 2: flotilla: loop \w+ died: DiskFull/)
            yield* sim.advance(2_000)
            // The disk is still full: the restarted node dies at its first write.
            yield* sim.restart(2)
            yield* sim.until(
              "node 2 down again",
              Effect.sync(() => !sim.isUp(2)),
            )
            expect(sim.takeLoopDeaths()[0]).toMatch(/DiskFull/)
            yield* sim.advance(2_000)
            yield* sim.clearDiskFault(2)
            yield* sim.restart(2)
            const tallies = yield* work
            yield* checkCounts(sim, tallies, { allAcknowledged: true })
            expect(sim.isUp(2)).toBe(true)
            yield* caughtUp(sim, 2, yield* sim.groupOf("counter", "a"))
          }),
        ),
      TIMEOUT,
    )

    for (const fault of ["failedWrite", "failedSync"] as const)
      it(
        `a ${fault} ends the node; restarted, it serves again (seed ${seed})`,
        () =>
          AppSim.runSim(options(seed), (sim) =>
            Effect.gen(function* () {
              const work = addAll(sim, IDS, { forMs: 8_000 })
              yield* sim.advance(1_000)
              const leader = (yield* sim.leaderOf("counter", "a"))!
              yield* sim.diskFault(leader, fault)
              yield* sim.until(
                `node ${leader} down`,
                Effect.sync(() => !sim.isUp(leader)),
              )
              expect(sim.takeLoopDeaths()).toEqual([
                expect.stringMatching(new RegExp(`^node ${leader}: flotilla: loop \\w+ died: `)),
              ])
              // Restarted at once, as a supervisor does (the dead incarnation is torn down first).
              yield* sim.restart(leader)
              yield* checkCounts(sim, yield* work, { allAcknowledged: true })
              yield* caughtUp(sim, leader, yield* sim.groupOf("counter", "a"))
            }),
          ),
        TIMEOUT,
      )

    it(
      `corrupted entries keep that group stopped on that node only; cleared and restarted, it recovers (seed ${seed})`,
      () =>
        AppSim.runSim(options(seed), (sim) =>
          Effect.gen(function* () {
            const work = addAll(sim, IDS, { forMs: 10_000 })
            yield* sim.advance(2_000)
            const group = yield* sim.groupOf("counter", "a")
            yield* sim.diskFault(3, "corruption", { group })
            // A restart reads the whole log back: the corrupted entries are found.
            yield* sim.crash(3)
            yield* sim.restart(3)
            yield* sim.advance(1_000)
            // The node lives on without that group (it cannot be loaded: it stays stopped there);
            // its other groups run, and the shard goes on with its other replicas.
            const hosted = (yield* sim.placement.statuses()).get(3 as never)!.map((g) => g.groupId as number)
            expect(hosted).not.toContain(group)
            expect(hosted.length).toBeGreaterThan(0)
            expect(
              sim.logs().some((l) => l.includes(`group ${group} cannot be loaded and stays stopped`)),
            ).toBe(true)
            expect(sim.isUp(3)).toBe(true)
            expect(sim.takeLoopDeaths()).toEqual([])
            yield* sim.advance(3_000)
            yield* sim.clearDiskFault(3)
            yield* sim.crash(3)
            yield* sim.restart(3)
            yield* checkCounts(sim, yield* work, { allAcknowledged: true })
            yield* caughtUp(sim, 3, GroupId(group))
          }),
        ),
      TIMEOUT,
    )
  }
})
