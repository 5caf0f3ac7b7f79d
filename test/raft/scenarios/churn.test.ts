/**
 * Churn: closed-loop clients keep writing and reading while replicas are cut off, reconnected,
 * crashed and restarted at random, on a reliable and on an unreliable network. Afterwards the
 * faults stop: the group must converge, make progress, and the recorded client history must be
 * linearizable.
 */
import { describe, expect, it } from "vitest"
import { Simulator } from "../../../src/testing/Simulator.js"
import { bytes, check, seeds, testRand } from "../support/sim.js"

const ELECTION = 2_000

const churn = (seed: number, reliable: boolean) =>
  Simulator.run({ seed, voters: [1, 2, 3, 4, 5] }, (sim) => {
    const rand = testRand(seed)
    const ids = [1, 2, 3, 4, 5]
    sim.setReliable(reliable)
    sim.startClients({ clients: 3, keys: 3 })
    for (let iter = 0; iter < 20; iter++) {
      if (rand.int(1000) < 200) sim.network.isolate(rand.pick(ids))
      if (rand.int(1000) < 500) {
        const id = rand.pick(ids)
        sim.restart(id)
        sim.network.rejoin(id)
      }
      if (rand.int(1000) < 200) sim.crash(rand.pick(ids))
      sim.runFor((ELECTION * 7) / 10)
    }
    sim.setReliable(true)
    sim.network.heal()
    sim.restartAll()
    sim.runFor(ELECTION)
    sim.stopClients()
    // Let outstanding operations finish or time out.
    sim.runFor(4_000)
    sim.agree(bytes(`churn-end-${seed}`), 5)
    sim.waitForConvergence()
    sim.checkLinearizable()
    const counts = sim.opCounts()
    check(sim, counts.ok >= 50, `too little progress under churn: ${JSON.stringify(counts)}`)
    expect(counts.pending).toBe(0)
    // Every replica holds the same state.
    const kv = ids.map((id) => sim.summary(id).kv)
    for (const s of kv) expect(s).toBe(kv[0])
  })

describe("churn", () => {
  it("stays safe and live with replicas coming and going (reliable network)", () => {
    for (const seed of seeds(6, 2200)) churn(seed, true)
  })

  it("stays safe and live with replicas coming and going (unreliable network)", () => {
    for (const seed of seeds(6, 2300)) churn(seed, false)
  })
})
