/**
 * Leadership transfer (TimeoutNow): to an up-to-date follower, to a lagging one (caught up
 * first), refusals while it runs, abandonment when the transferee is gone, forwarding from a
 * follower, and no transfer to learners.
 */
import { describe, expect, it } from "vitest"
import { ConfChangeType, confChange } from "../../../src/raft/ConfChange.js"
import { MessageType, type ReplicaId } from "../../../src/raft/Types.js"
import { encodeKv } from "../../../src/testing/KvModel.js"
import { Simulator } from "../../../src/testing/Simulator.js"
import { check, leaderIds, seeds, waitForLeaderToBe, waitForOneLeader } from "../support/sim.js"

const ELECTION = 2_000
const put = (key: string, value: string) => encodeKv({ op: "put", key, value })

describe("leadership transfer", () => {
  it("hands leadership to an up-to-date follower well within an election timeout", () => {
    for (const seed of seeds(5, 3500)) {
      Simulator.run({ seed, voters: [1, 2, 3, 4, 5] }, (sim) => {
        const l = waitForOneLeader(sim, [1, 2, 3, 4, 5])
        sim.agree(put("t", "before"), 5)
        const term = sim.node(l).raw!.term
        const to = ((l + 1) % 5) + 1
        let timeoutNow = 0
        sim.onSend((m) => {
          if (m.type === MessageType.TimeoutNow) timeoutNow++
        })
        const start = sim.now
        expect(sim.transferLeader(to)).toBe(true)
        waitForLeaderToBe(sim, to, [1, 2, 3, 4, 5], 5_000)
        // One TimeoutNow and one election round trip: far below the 1,000-unit minimum timeout.
        check(sim, sim.now - start < 300, `transfer took ${sim.now - start} units`)
        expect(timeoutNow).toBe(1)
        expect(sim.node(to).raw!.term).toBe(term + 1)
        sim.agree(put("t", "after"), 5)
        for (let id = 1; id <= 5; id++) expect(sim.node(id).kv.get("t")).toBe("after")
      })
    }
  })

  it("catches a lagging transferee up first, then hands over; proposals are refused meanwhile", () => {
    for (const seed of seeds(4, 3600)) {
      Simulator.run({ seed }, (sim) => {
        const l = waitForOneLeader(sim, [1, 2, 3])
        const to = [1, 2, 3].find((id) => id !== l)!
        sim.network.isolate(to)
        for (let i = 0; i < 20; i++) sim.agree(put("lag", `${i}`), 2)
        // The transferee lacks 20 entries; it only hears the leader once it rejoins.
        expect(sim.transferLeader(to)).toBe(true)
        const r = sim.node(l).raw!.propose(put("lag", "during"))
        expect(r).toMatchObject({
          _tag: "ProposalDropped",
          reason: "LeadershipTransferInProgress",
          leaderHint: l,
        })
        sim.network.rejoin(to)
        waitForLeaderToBe(sim, to, [1, 2, 3], ELECTION)
        // It won only because its log held everything committed: leader completeness.
        expect(sim.node(to).kv.get("lag")).toBe("19")
        sim.agree(put("lag", "done"), 3)
      })
    }
  })

  it("abandons a transfer to a crashed replica after an election timeout and resumes", () => {
    for (const seed of seeds(3, 3700)) {
      Simulator.run({ seed }, (sim) => {
        const l = waitForOneLeader(sim, [1, 2, 3])
        const to = [1, 2, 3].find((id) => id !== l)!
        sim.crash(to)
        const term = sim.node(l).raw!.term
        expect(sim.transferLeader(to)).toBe(true)
        expect(sim.node(l).raw!.status().leadTransferee).toBe(to)
        sim.runFor(ELECTION + 500)
        const raw = sim.node(l).raw!
        expect(raw.status().leadTransferee).toBe(0)
        expect(raw.isLeader).toBe(true)
        expect(raw.term).toBe(term)
        sim.agree(put("x", "resumed"), 2)
      })
    }
  })

  it("forwards a follower's transfer to itself, refuses one to a third replica; ignores transfers to itself and to learners", () => {
    Simulator.run({ seed: 3800 }, (sim) => {
      const l = waitForOneLeader(sim, [1, 2, 3])
      sim.agree(put("f", "0"), 3)
      const [a, b] = [1, 2, 3].filter((id) => id !== l) as [number, number]
      // Asked on follower `a` to hand leadership to `b`: refused (the forwarded message would
      // not be from `a`, and a frame carries only its own node's messages: issue 12, finding 1).
      expect(sim.with(a, (n) => n.raw!.transferLeader(b as ReplicaId))).toMatchObject({ reason: "NotLeader" })
      sim.runFor(ELECTION)
      expect(leaderIds(sim)).toEqual([l])
      // Asked on follower `b` to hand leadership to itself: forwarded to the leader.
      expect(sim.with(b, (n) => n.raw!.transferLeader(b as ReplicaId))).toBeUndefined()
      waitForLeaderToBe(sim, b, [1, 2, 3], 5_000)
      const term = sim.node(b).raw!.term
      // To itself: nothing happens.
      sim.with(b, (n) => n.raw!.transferLeader(b as ReplicaId))
      sim.runFor(ELECTION)
      expect(leaderIds(sim)).toEqual([b])
      expect(sim.node(b).raw!.term).toBe(term)
      // To a learner: nothing happens either.
      sim.addReplica(4)
      const r = sim.proposeConfChange(
        confChange([{ type: ConfChangeType.AddLearner, nodeId: 4 as ReplicaId }]),
      )
      expect(r._tag).toBe("Proposed")
      sim.waitForConvergence()
      sim.with(b, (n) => n.raw!.transferLeader(4 as ReplicaId))
      expect(sim.node(b).raw!.status().leadTransferee).toBe(0)
      sim.runFor(ELECTION)
      expect(leaderIds(sim)).toEqual([b])
      expect(sim.node(b).raw!.term).toBe(term)
    })
  })

  it("hands over even when every follower is within the leader's lease (check-quorum, pre-vote)", () => {
    for (const seed of seeds(3, 3900)) {
      Simulator.run({ seed, raft: { checkQuorum: true, preVote: true } }, (sim) => {
        const l = waitForOneLeader(sim, [1, 2, 3])
        sim.agree(put("q", "0"), 3)
        for (const to of [1, 2, 3].filter((id) => id !== l)) {
          expect(sim.transferLeader(to)).toBe(true)
          waitForLeaderToBe(sim, to, [1, 2, 3], 2_000)
          sim.agree(put("q", `${to}`), 3)
        }
      })
    }
  })
})
