import { describe, expect, it } from "vitest"
import { encodeKv } from "../../src/testing/KvModel.js"
import { Simulator } from "../../src/testing/Simulator.js"

describe("smoke", () => {
  it("elects and replicates", () => {
    Simulator.run({ seed: 1 }, (sim) => {
      const l = sim.waitForLeader()
      expect(l.raw!.isLeader).toBe(true)
      for (let i = 0; i < 10; i++) sim.propose(encodeKv({ op: "put", key: "a", value: `v${i}` }))
      sim.runFor(2000)
      for (const n of sim.nodes.values()) expect(n.kv.get("a")).toBe("v9")
    })
  })
})
