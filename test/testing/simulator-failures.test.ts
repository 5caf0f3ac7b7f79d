/**
 * How the core simulator (src/testing/Simulator.ts) fails: every failure, whether thrown by the
 * test's body, by a check run after each event, or by a wait that cannot finish, comes out as a
 * `SimulationFailure` naming the seed, the virtual time and the line that replays it. The
 * scenario tests only ever pass, so this is where their failure reports are tested.
 */
import { describe, expect, it } from "vitest"
import { InvariantViolation } from "../../src/testing/Invariants.js"
import { SimulationFailure, Simulator } from "../../src/testing/Simulator.js"

/** What `f` throws (fails the test when it throws nothing). */
const thrown = (f: () => unknown): SimulationFailure => {
  try {
    f()
  } catch (e) {
    expect(e).toBeInstanceOf(SimulationFailure)
    return e as SimulationFailure
  }
  throw new Error("expected a SimulationFailure")
}

describe("Simulator failures", () => {
  it("wrap an error of the test's body with the seed, the time and the replay line", () => {
    const e = thrown(() =>
      Simulator.run({ seed: 42 }, (sim) => {
        sim.runFor(500)
        throw new Error("boom")
      }),
    )
    expect(e.seed).toBe(42)
    expect(e.time).toBe(500)
    expect(e.message).toBe("[seed 42, t=500] boom\n  replay: FLOTILLA_SEED=42 npm test -- <this test file>")
    expect(e.stack).toContain("boom")
  })

  it("stop the run at the event after which a test's own check fails", () => {
    let failedAt = -1
    const e = thrown(() =>
      Simulator.run({ seed: 3 }, (sim) => {
        sim.onStep(() => {
          if (sim.now >= 300) {
            failedAt = sim.now
            throw new InvariantViolation("a test property", `checked at ${sim.now}`)
          }
        })
        sim.runFor(10_000)
      }),
    )
    expect(failedAt).toBeGreaterThanOrEqual(300)
    expect(e.time).toBe(failedAt)
    expect(e.message).toMatch(
      /^\[seed 3, t=\d+\] a test property violated: checked at \d+\n {2}replay: FLOTILLA_SEED=3 /,
    )
  })

  it("report an agreement, a leader or convergence that a lost quorum never reaches", () => {
    const noQuorum = (f: (sim: Simulator) => void) =>
      thrown(() =>
        Simulator.run({ seed: 11, voters: [1, 2, 3] }, (sim) => {
          sim.crash(2)
          sim.crash(3)
          f(sim)
        }),
      )
    const agree = noQuorum((sim) => sim.agree(new TextEncoder().encode("x"), 2, { limit: 5_000 }))
    expect(agree.message).toMatch(/^\[seed 11, t=\d+\] agreement on "x" by 2 replicas failed\n/)
    expect(agree.time).toBeGreaterThanOrEqual(5_000)
    expect(noQuorum((sim) => sim.waitForLeader(5_000)).message).toContain(
      "timed out after 5000 waiting for a leader",
    )
    const converge = noQuorum((sim) => sim.waitForConvergence(5_000)).message
    expect(converge).toContain("timed out after 5000 waiting for convergence; live replicas:")
    // Only the live replica is listed, with its summary.
    expect(converge).toMatch(/\n {2}\{"id":1,"term":\d+,"committed":\d+,"applied":\d+,"kv":"[^"]*"\}\n/)
    expect(converge).not.toContain('"id":2')
  })
})
