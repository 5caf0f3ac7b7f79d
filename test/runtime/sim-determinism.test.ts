/**
 * Replay: a simulation is a function of its seed. The same seed and test code give the same
 * run (same fiber tasks, rounds, messages, leaders, applied indexes, client outcomes), and
 * different seeds give different runs. Replay with FLOTILLA_SEED=<seed>.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as RuntimeSim from "../../src/testing/RuntimeSim.js"

/**
 * A faulty run (lossy, duplicating, reordering links; a crash and a restart; a node's clock
 * ahead and fast, another's drift changed mid-run: SimClock.ts); its trace.
 */
const trace = (seed: number) =>
  RuntimeSim.run(
    {
      seed,
      nodes: 3,
      groups: 20,
      faults: { drop: 0.03, duplicate: 0.03, delay: { min: 1, max: 10 }, reorder: 0.1 },
      settings: { snapshotEntries: 30, keepEntries: 5 },
    },
    (sim) =>
      Effect.gen(function* () {
        const all = sim.groupIds.map(Number)
        const lines: string[] = []
        yield* sim.skewClock(2, { offsetMs: 90_000, drift: 0.25 })
        const leaders = yield* sim.waitForLeaders({ timeoutMs: 30_000 })
        lines.push(`leaders ${[...leaders.values()].join("")}`)
        const writes = yield* sim.fork(
          sim.client.workload({ groups: all, writes: 300, readEvery: 5, pauseMs: 10 }),
        )
        yield* sim.advance(300)
        lines.push(yield* sim.fingerprint)
        yield* sim.crash(leaders.get(1)!)
        yield* sim.skewClock(3, { drift: -0.1 })
        yield* sim.advance(2_000)
        yield* sim.restart(leaders.get(1)!)
        const report = yield* sim.join(writes)
        lines.push(`workload ${JSON.stringify(report)}`)
        const finals = yield* sim.verify({ groups: all })
        lines.push(`states ${[...finals.values()].map((s) => `${s.count}:${s.checksum}`).join(" ")}`)
        lines.push(`network ${JSON.stringify(yield* sim.network.totals)}`)
        lines.push(yield* sim.fingerprint)
        return lines.join("\n")
      }),
  )

describe("runtime simulation: determinism", () => {
  const list = RuntimeSim.seeds([61, 62])
  /** The first trace of each seed, for the comparison across seeds. */
  const traces = new Map<number, string>()
  for (const seed of list) {
    it.effect(`the same seed replays the same run (seed ${seed})`, () =>
      Effect.gen(function* () {
        const first = yield* trace(seed)
        const second = yield* trace(seed)
        expect(second).toBe(first)
        traces.set(seed, first)
      }),
    )
  }
  const [a, b] = [list[0]!, list[1] ?? list[0]! + 1000]
  it.effect(`different seeds give different runs (seeds ${a} and ${b})`, () =>
    Effect.gen(function* () {
      const ta = traces.get(a) ?? (yield* trace(a))
      const tb = traces.get(b) ?? (yield* trace(b))
      expect(tb).not.toBe(ta)
      // Not only the fault draws: the elections differ too (per-node jitter comes from the seed).
      expect(tb.split("\n")[0]).not.toBe(ta.split("\n")[0])
    }),
  )
})
