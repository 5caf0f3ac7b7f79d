/**
 * ReadIndex under partitions: a leader cut off from the quorum must not answer reads (a new
 * leader may already have accepted writes), reads on followers are forwarded, and histories of
 * clients reading and writing through random partitions are linearizable, with ReadIndex
 * ("safe") and with lease reads.
 */
import { describe, expect, it } from "vitest"
import { MessageType } from "../../../src/raft/Types.js"
import { Simulator } from "../../../src/testing/Simulator.js"
import { check, seeds, testRand, waitForOneLeader } from "../support/sim.js"

const ELECTION = 2_000

describe("ReadIndex", () => {
  it("a leader cut off from the quorum never answers a read, while the majority moves on", () => {
    for (const seed of seeds(5, 4000)) {
      const ids = [1, 2, 3, 4, 5]
      Simulator.run({ seed, voters: ids }, (sim) => {
        const old = waitForOneLeader(sim, ids)
        const w1 = sim.submitPut(old, "x", "1") as number
        sim.runUntil(() => sim.operation(w1)?.state === "ok", 5_000, "the first write")
        const buddy = ids.find((id) => id !== old)!
        sim.network.partition([[old, buddy]])
        // Read on the old leader right away, before check-quorum can depose it.
        const r = sim.submitGet(old, "x")
        expect(r).toBeDefined()
        const majority = ids.filter((id) => id !== old && id !== buddy)
        const fresh = waitForOneLeader(sim, majority)
        const w2 = sim.submitPut(fresh, "x", "2") as number
        sim.runUntil(() => sim.operation(w2)?.state === "ok", 5_000, "the second write")
        sim.runFor(2 * ELECTION)
        // No quorum answered the old leader's heartbeat round: the read is still unanswered.
        expect(sim.operation(r!)?.state).toBe("pending")
        // A read on the minority side is refused or never answered, never stale.
        const r2 = sim.submitGet(buddy, "x")
        sim.network.heal()
        sim.runFor(2 * ELECTION)
        for (const op of [r!, r2]) {
          if (op === undefined) continue
          const st = sim.operation(op)!
          if (st.state === "ok") expect(st.output?.value).toBe("2")
        }
        sim.checkLinearizable()
      })
    }
  })

  it("a read on a follower is forwarded to the leader and served once the follower has applied", () => {
    for (const seed of seeds(3, 4100)) {
      Simulator.run({ seed }, (sim) => {
        const l = waitForOneLeader(sim, [1, 2, 3])
        const f = [1, 2, 3].find((id) => id !== l)!
        let forwarded = 0
        sim.onSend((m) => {
          if (m.type === MessageType.ReadIndex && m.from === f) forwarded++
        })
        const w = sim.submitPut(l, "y", "fresh") as number
        sim.runUntil(() => sim.operation(w)?.state === "ok", 5_000, "the write")
        const r = sim.submitGet(f, "y")!
        sim.runUntil(() => sim.operation(r)?.state === "ok", 5_000, "the read")
        expect(sim.operation(r)?.output?.value).toBe("fresh")
        expect(forwarded).toBe(1)
        sim.checkLinearizable()
      })
    }
  })

  it("a read before any leader is known is refused at once", () => {
    Simulator.run({ seed: 4150 }, (sim) => {
      expect(sim.submitGet(1, "z")).toBeUndefined()
      expect(sim.node(1).raw!.readIndex(new Uint8Array([1]))).toMatchObject({
        _tag: "ProposalDropped",
        reason: "NoLeader",
      })
    })
  })

  const partitionedClients = (
    seed: number,
    raft: { readOnlyOption: "safe" | "lease"; checkQuorum: boolean },
  ) =>
    Simulator.run({ seed, voters: [1, 2, 3, 4, 5], raft }, (sim) => {
      const rand = testRand(seed)
      const ids = [1, 2, 3, 4, 5]
      sim.startClients({ clients: 3, keys: 4, readRatio: 0.6, thinkTime: [10, 60] })
      for (let round = 0; round < 12; round++) {
        const leader = sim.leader()?.id ?? rand.pick(ids)
        // Mostly cut the leader off with one other replica: it keeps serving reads only as long
        // as that is safe.
        const side =
          rand.int(3) === 0 ? rand.sample(ids, 2) : [leader, rand.pick(ids.filter((x) => x !== leader))]
        sim.network.partition([side])
        sim.runFor(rand.int(3 * ELECTION))
        sim.network.heal()
        sim.runFor(rand.int(ELECTION))
      }
      sim.stopClients()
      sim.runFor(4_000)
      sim.checkLinearizable()
      const counts = sim.opCounts()
      check(sim, counts.ok > 100, `too few operations: ${JSON.stringify(counts)}`)
    })

  it("client histories through leader partitions are linearizable (ReadIndex, deposed leaders linger)", () => {
    // Without check-quorum a cut-off leader keeps believing it leads and keeps taking reads:
    // only the quorum round of ReadIndex keeps them from returning stale values.
    for (const seed of seeds(5, 4200))
      partitionedClients(seed, { readOnlyOption: "safe", checkQuorum: false })
  })

  it("client histories through leader partitions are linearizable (lease reads, clock drift bounded)", () => {
    for (const seed of seeds(5, 4300))
      partitionedClients(seed, { readOnlyOption: "lease", checkQuorum: true })
  })

  it("lease reads: a cut-off leader's lease runs out before another leader can commit a write", () => {
    let overlaps = 0
    for (const seed of seeds(8, 4400)) {
      const ids = [1, 2, 3, 4, 5]
      Simulator.run({ seed, voters: ids, raft: { readOnlyOption: "lease" } }, (sim) => {
        const old = waitForOneLeader(sim, ids)
        const w1 = sim.submitPut(old, "k", "old") as number
        sim.runUntil(() => sim.operation(w1)?.state === "ok", 5_000, "the first write")
        const buddy = ids.find((id) => id !== old)!
        sim.network.partition([[old, buddy]])
        const majority = ids.filter((id) => id !== old && id !== buddy)
        // As soon as the majority has a leader, write there; while the old leader still
        // believes it leads, read from it: the read must not see the overwritten value.
        let w2: number | undefined
        const reads: number[] = []
        sim.runUntil(
          () => {
            const fresh = sim.leaders().find((n) => majority.includes(n.id))
            if (w2 === undefined && fresh !== undefined) {
              const r = sim.submitPut(fresh.id, "k", "new")
              if (typeof r === "number") w2 = r
            }
            if (w2 !== undefined && sim.operation(w2)?.state === "ok" && sim.node(old).raw!.isLeader) {
              const r = sim.submitGet(old, "k")
              if (r !== undefined) reads.push(r)
            }
            return w2 !== undefined && sim.operation(w2)?.state === "ok" && !sim.node(old).raw!.isLeader
          },
          20_000,
          "the new leader's write and the old leader's step-down",
        )
        if (reads.length > 0) overlaps++
        sim.network.heal()
        sim.runFor(ELECTION)
        for (const r of reads) {
          const st = sim.operation(r)!
          if (st.state === "ok") expect(st.output?.value).toBe("new")
        }
        sim.checkLinearizable()
      })
    }
    // The seeds must reach the dangerous overlap: two leaders, the new one with a commit.
    expect(overlaps).toBeGreaterThan(0)
  })
})
