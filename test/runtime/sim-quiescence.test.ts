/**
 * Quiescence in the runtime simulation: idle groups stop ticking and send no Raft traffic at
 * all, and when the node leading many of them dies, node liveness wakes its followers, which
 * elect new leaders (docs/decisions/0004). Replay with FLOTILLA_SEED=<seed>.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as RuntimeSim from "../../src/testing/RuntimeSim.js"

const GROUPS = 100

describe("runtime simulation: quiescence and node liveness", () => {
  for (const seed of RuntimeSim.seeds([51, 52, 53])) {
    it.effect(`idle groups go silent; a dead leader's quiesced groups elect new leaders (seed ${seed})`, () =>
      RuntimeSim.run({ seed, nodes: 3, groups: GROUPS, settings: { quiesceAfterTicks: 10 } }, (sim) =>
        Effect.gen(function* () {
          const all = sim.groupIds.map(Number)
          yield* sim.waitForLeaders()
          yield* sim.workload({ groups: all, writes: 200 })
          const allQuiet = (nodes: ReadonlyArray<number>) =>
            Effect.map(
              Effect.forEach(nodes, (n) => sim.stats(n)),
              (stats) => stats.every((s) => s.activeGroups === 0),
            )
          yield* sim.until("every group quiesced", allQuiet(sim.nodeIds), { timeoutMs: 10_000 })

          // Asleep, 100 groups cost no Raft traffic at all (liveness pings travel on the bus).
          const before = yield* sim.network.totals
          yield* sim.advance(10_000)
          const after = yield* sim.network.totals
          expect(after.published - before.published).toBe(0)
          expect(yield* allQuiet(sim.nodeIds)).toBe(true)

          // The busiest leader dies while its groups sleep: only liveness can tell its followers.
          const { victim, led } = RuntimeSim.busiestLeader(yield* sim.waitForLeaders())
          const live = sim.nodeIds.filter((n) => n !== victim)
          yield* sim.crash(victim)
          const leaders = yield* sim.waitForLeaders({ among: live, timeoutMs: 20_000 })
          for (const g of led) expect(live).toContain(leaders.get(g))
          for (const n of live) expect((yield* sim.stats(n)).nodesDown).toContain(victim)
          yield* sim.workload({ groups: led, writes: 100, prefix: "after" })
          yield* sim.verify({ groups: all, nodes: live })

          // Back, it catches up, and everything goes quiet again.
          yield* sim.restart(victim)
          yield* sim.verify({ groups: all })
          yield* sim.until("every group quiesced again", allQuiet(sim.nodeIds), { timeoutMs: 20_000 })
        }),
      ),
    )
  }
})
