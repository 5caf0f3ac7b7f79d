/**
 * Failover of idle groups (issue 12 D, docs/decisions/0079): the node leading the most groups
 * crashes while every group is quiesced. Its groups' followers learn it is down from liveness
 * only; they then forget the leader and one voter per group campaigns at once, so every group it
 * led has a new leader shortly after the liveness timeout, not an election timeout later
 * (before, the followers waited a randomized [electionTicks, 2 × electionTicks) ticks, and
 * honoured the dead leader's lease). Replay with FLOTILLA_SEED=<seed>.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as RuntimeSim from "../../src/testing/RuntimeSim.js"

const GROUPS = 60
const INTERVAL = 500
const TIMEOUT = 2000
const TICK = 100
const ELECTION_TICKS = 10

describe("runtime simulation: failover of quiesced groups", () => {
  for (const seed of RuntimeSim.seeds([31, 32, 33])) {
    it.effect(`new leaders within the liveness timeout plus a round trip (seed ${seed})`, () =>
      RuntimeSim.run(
        {
          seed,
          nodes: 3,
          groups: GROUPS,
          settings: {
            tickMs: TICK,
            electionTicks: ELECTION_TICKS,
            livenessIntervalMs: INTERVAL,
            livenessTimeoutMs: TIMEOUT,
          },
        },
        (sim) =>
          Effect.gen(function* () {
            const all = sim.groupIds.map(Number)
            const before = yield* sim.waitForLeaders()
            yield* sim.workload({ groups: all, writes: GROUPS, prefix: "a" })
            yield* sim.until(
              "every replica quiesced",
              Effect.map(Effect.all(sim.nodeIds.map((n) => sim.status(n))), (views) =>
                views.every((gs) => gs.every((g) => g.quiesced)),
              ),
              { timeoutMs: 30_000 },
            )
            const { victim, led } = RuntimeSim.busiestLeader(before)
            const live = sim.nodeIds.filter((n) => n !== victim)
            const crashedAt = sim.now()
            sim.note(`crash of node ${victim}, leader of ${led.length} groups`)
            yield* sim.crash(victim)
            yield* sim.until(
              "a new leader in every group the victim led",
              Effect.map(sim.leaders({ groups: led, among: live }), (m) =>
                led.every((g) => m.get(g) !== undefined),
              ),
              { timeoutMs: 30_000, stepMs: 10 },
            )
            const took = sim.now() - crashedAt
            // Found silent within a tick of TIMEOUT after its last ping (silence is judged on
            // every loop turn); then one pre-vote and one vote round trip. Waiting for an
            // election timer would add at least ELECTION_TICKS × TICK.
            expect(took).toBeLessThan(TIMEOUT + 2 * TICK + (ELECTION_TICKS * TICK) / 2)
            // The candidates are spread by group id over the survivors (decision 0132): each
            // takes a share of the victim's groups rather than one taking them all.
            const after = yield* sim.leaders({ groups: led, among: live })
            for (const n of live)
              expect([...after.values()].filter((l) => l === n).length).toBeGreaterThanOrEqual(led.length / 4)
            yield* sim.workload({ groups: led, writes: led.length, prefix: "b" })
            yield* sim.verify({ groups: all, nodes: live })
          }),
      ),
    )
  }
})
