/**
 * A small workload of the Counter kind for the AppSim tests: clients that add 1 to counters,
 * tallying what was acknowledged and what gave up, and the final-value check.
 */
import { Effect, Either } from "effect"
import { expect } from "vitest"
import { Counter } from "../../../examples/counter/Counter.js"
import type * as AppSim from "../../../src/testing/AppSim.js"

/** What the clients of one counter saw. */
export interface Tally {
  readonly id: string
  acknowledged: number
  /** Adds that failed: applied at most once each. */
  unknown: number
}

/**
 * One client per counter, each adding 1 again and again (a pause of `pauseMs` between adds)
 * until `forMs` of virtual time have passed, forked inside the simulation (they run while the
 * test drives time and plays faults); joining gives the tallies.
 */
export const addAll = (
  sim: AppSim.AppSim,
  ids: ReadonlyArray<string>,
  options: { readonly forMs: number; readonly pauseMs?: number },
) => {
  const tallies = ids.map((id): Tally => ({ id, acknowledged: 0, unknown: 0 }))
  const end = sim.now() + options.forMs
  const client = (t: Tally) =>
    Effect.gen(function* () {
      while (sim.now() < end) {
        const r = yield* Effect.either(Counter.client(t.id).Add({ by: 1 }))
        if (Either.isRight(r)) t.acknowledged++
        else t.unknown++
        yield* Effect.sleep(options.pauseMs ?? 100)
      }
    })
  const fiber = sim.fork(Effect.forEach(tallies, client, { concurrency: "unbounded", discard: true }))
  return Effect.as(sim.join(fiber, options.forMs + 120_000), tallies)
}

/**
 * Every counter holds its acknowledged adds, plus at most its unknown ones; with
 * `allAcknowledged`, no add gave up at all.
 */
export const checkCounts = (
  sim: AppSim.AppSim,
  tallies: ReadonlyArray<Tally>,
  options: { readonly allAcknowledged?: boolean } = {},
) =>
  Effect.gen(function* () {
    for (const t of tallies) {
      expect(t.acknowledged, `counter ${t.id}: no add acknowledged`).toBeGreaterThan(0)
      const value = yield* sim.run(Counter.client(t.id).Get(), `reading counter ${t.id}`)
      expect(value, `counter ${t.id}: ${JSON.stringify(t)}`).toBeGreaterThanOrEqual(t.acknowledged)
      expect(value, `counter ${t.id}: ${JSON.stringify(t)}`).toBeLessThanOrEqual(t.acknowledged + t.unknown)
      if (options.allAcknowledged === true) expect(t.unknown, `counter ${t.id}`).toBe(0)
    }
  })
