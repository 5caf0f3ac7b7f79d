/**
 * Leader election scenarios: the first election, re-election after losing the leader, no
 * leader without a quorum, many elections under shifting partitions, pre-vote keeping a
 * partitioned replica from disrupting the leader, check-quorum step-down.
 *
 * Time: a tick is 100 units of virtual time and the election timeout 10 ticks (randomized to
 * [10, 20) ticks), so "an election timeout" below is 1,000–2,000 units.
 */
import { describe, expect, it } from "vitest"
import { StateType } from "../../../src/raft/Types.js"
import { Simulator } from "../../../src/testing/Simulator.js"
import { bytes, check, leaderIds, seeds, testRand, waitForOneLeader } from "../support/sim.js"

const ELECTION = 2_000

describe("election", () => {
  it("elects one leader at startup, which keeps its term while nothing fails", () => {
    for (const seed of seeds(5, 100)) {
      Simulator.run({ seed }, (sim) => {
        const first = waitForOneLeader(sim, [1, 2, 3], 5 * ELECTION)
        const term = sim.node(first).raw!.term
        check(sim, term >= 2, `first leader's term ${term} should be past bootstrap's 1`)
        // Nothing fails: no replica should start another election.
        sim.runFor(10 * ELECTION)
        expect(leaderIds(sim)).toEqual([first])
        for (const n of sim.liveNodes()) {
          expect(n.raw!.term).toBe(term)
          expect(n.raw!.leader).toBe(first)
        }
      })
    }
  })

  it("elects a new leader when the leader is cut off, and the old one rejoins as a follower", () => {
    for (const seed of seeds(5, 200)) {
      Simulator.run({ seed }, (sim) => {
        const l1 = waitForOneLeader(sim, [1, 2, 3])
        const term1 = sim.node(l1).raw!.term
        sim.network.isolate(l1)
        const rest = [1, 2, 3].filter((id) => id !== l1)
        const l2 = waitForOneLeader(sim, rest)
        expect(l2).not.toBe(l1)
        expect(sim.node(l2).raw!.term).toBeGreaterThan(term1)

        // The old leader comes back: it must follow, not disturb the new leader.
        sim.network.rejoin(l1)
        expect(waitForOneLeader(sim, [1, 2, 3])).toBe(l2)

        // No quorum: two of three cut off; nobody may lead among the connected ones.
        const other = rest.find((id) => id !== l2)!
        sim.network.isolate(l2)
        sim.network.isolate(other)
        sim.runFor(3 * ELECTION)
        expect(leaderIds(sim)).toEqual([])

        // A quorum again: a leader is elected.
        sim.network.rejoin(other)
        const l3 = waitForOneLeader(sim, [l1, other])
        sim.network.rejoin(l2)
        expect(waitForOneLeader(sim, [1, 2, 3])).toBe(l3)
      })
    }
  })

  it("elects no leader without a quorum, and with pre-vote the minority's terms stay put", () => {
    for (const seed of seeds(4, 300)) {
      Simulator.run({ seed, voters: [1, 2, 3, 4, 5] }, (sim) => {
        const l = waitForOneLeader(sim, [1, 2, 3, 4, 5])
        const others = [1, 2, 3, 4, 5].filter((id) => id !== l)
        const down = [l, others[0]!, others[1]!]
        for (const id of down) sim.crash(id)
        const survivors = others.slice(2)
        const terms = survivors.map((id) => sim.node(id).raw!.term)
        sim.runFor(10 * ELECTION)
        expect(leaderIds(sim)).toEqual([])
        // Pre-vote: a candidate that cannot win never bumps its term.
        expect(survivors.map((id) => sim.node(id).raw!.term)).toEqual(terms)
        for (const id of survivors) expect(sim.node(id).raw!.internals.state).not.toBe(StateType.Candidate)

        sim.restart(down[2]!)
        waitForOneLeader(sim, [...survivors, down[2]!])
      })
    }
  })

  it("without pre-vote, a minority keeps campaigning in ever higher terms but never leads", () => {
    Simulator.run({ seed: 350, voters: [1, 2, 3, 4, 5], raft: { preVote: false } }, (sim) => {
      const l = waitForOneLeader(sim, [1, 2, 3, 4, 5])
      const others = [1, 2, 3, 4, 5].filter((id) => id !== l)
      for (const id of [l, others[0]!, others[1]!]) sim.crash(id)
      const term = sim.node(others[2]!).raw!.term
      sim.runFor(10 * ELECTION)
      expect(leaderIds(sim)).toEqual([])
      expect(sim.node(others[2]!).raw!.term).toBeGreaterThan(term + 2)
    })
  })

  it("survives many elections as random minorities are cut off and reconnected", () => {
    const all = [1, 2, 3, 4, 5, 6, 7]
    for (const seed of seeds(3, 400)) {
      Simulator.run({ seed, voters: all }, (sim) => {
        const rand = testRand(seed)
        let current = waitForOneLeader(sim, all)
        for (let iter = 0; iter < 10; iter++) {
          // Every other round the leader is among the three cut off.
          const cut =
            iter % 2 === 0
              ? [
                  current,
                  ...rand.sample(
                    all.filter((id) => id !== current),
                    2,
                  ),
                ]
              : rand.sample(all, 3)
          for (const id of cut) sim.network.isolate(id)
          const majority = all.filter((id) => !cut.includes(id))
          const before = sim.node(current).raw!.term
          sim.runFor(2 * ELECTION)
          const l = waitForOneLeader(sim, majority)
          const term = sim.node(l).raw!.term
          if (cut.includes(current)) check(sim, term > before, `round ${iter}: no new election`)
          else check(sim, l === current && term === before, `round ${iter}: a stable leader was replaced`)
          // The cut-off replicas cannot lead: at most the old leader, until check-quorum deposes it.
          for (const id of cut) {
            const raw = sim.node(id).raw!
            check(sim, !raw.isLeader, `isolated ${id} still leads after two election timeouts`)
          }
          sim.network.heal()
          current = waitForOneLeader(sim, all)
        }
      })
    }
  })

  it("pre-vote keeps a partitioned follower from disrupting the leader when it rejoins", () => {
    for (const seed of seeds(4, 500)) {
      Simulator.run({ seed, voters: [1, 2, 3, 4, 5] }, (sim) => {
        const l = waitForOneLeader(sim, [1, 2, 3, 4, 5])
        const term = sim.node(l).raw!.term
        const loner = [1, 2, 3, 4, 5].find((id) => id !== l)!
        sim.network.isolate(loner)
        sim.runFor(10 * ELECTION) // many election timeouts on the loner
        expect(sim.node(loner).raw!.term).toBe(term)
        sim.agree(bytes(`while-apart-${seed}`), 4)
        sim.network.rejoin(loner)
        sim.runFor(3 * ELECTION)
        expect(leaderIds(sim)).toEqual([l])
        for (const n of sim.liveNodes()) expect(n.raw!.term).toBe(term)
        sim.agree(bytes(`after-${seed}`), 5)
      })
    }
  })

  it("without pre-vote the same rejoin disrupts the leader (the test above can fail)", () => {
    Simulator.run({ seed: 550, voters: [1, 2, 3, 4, 5], raft: { preVote: false } }, (sim) => {
      const l = waitForOneLeader(sim, [1, 2, 3, 4, 5])
      const term = sim.node(l).raw!.term
      const loner = [1, 2, 3, 4, 5].find((id) => id !== l)!
      sim.network.isolate(loner)
      sim.runFor(10 * ELECTION)
      expect(sim.node(loner).raw!.term).toBeGreaterThan(term)
      sim.network.rejoin(loner)
      sim.runFor(3 * ELECTION)
      // The loner's higher term reached the leader (in its responses) and deposed it.
      waitForOneLeader(sim, [1, 2, 3, 4, 5])
      expect(sim.leader()!.raw!.term).toBeGreaterThan(term)
    })
  })

  it("check-quorum: a leader cut off from the quorum steps down within an election timeout", () => {
    for (const seed of seeds(4, 600)) {
      Simulator.run({ seed, voters: [1, 2, 3, 4, 5] }, (sim) => {
        const l = waitForOneLeader(sim, [1, 2, 3, 4, 5])
        const term = sim.node(l).raw!.term
        const buddy = [1, 2, 3, 4, 5].find((id) => id !== l)!
        sim.network.partition([[l, buddy]])
        // electionTick (10) ticks of ~100 units after its last round, plus clock drift.
        sim.runFor(2_300)
        const raw = sim.node(l).raw!
        expect(raw.isLeader).toBe(false)
        expect(raw.term).toBe(term) // stepping down does not bump the term
        expect(raw.leader).toBe(0)
        // A proposal on it is refused now, with no leader to hint at.
        const r = raw.propose(bytes("late"))
        expect(r).toMatchObject({ _tag: "ProposalDropped", reason: "NoLeader", leaderHint: 0 })
        waitForOneLeader(
          sim,
          [1, 2, 3, 4, 5].filter((id) => id !== l && id !== buddy),
        )
      })
    }
  })

  it("check-quorum counts the leader itself: one follower of three down does not depose it", () => {
    // Regression: the leader's own progress lost its `recentActive` flag in `reset()`, so a
    // leader hearing from one follower of two counted 1 of 3 and stepped down every timeout.
    for (const seed of seeds(3, 620)) {
      Simulator.run({ seed }, (sim) => {
        const l = waitForOneLeader(sim, [1, 2, 3])
        const term = sim.node(l).raw!.term
        const down = [1, 2, 3].find((id) => id !== l)!
        sim.crash(down)
        for (let i = 0; i < 10; i++) {
          sim.runFor(ELECTION)
          expect(leaderIds(sim)).toEqual([l])
        }
        expect(sim.node(l).raw!.term).toBe(term)
        sim.agree(bytes(`two-of-three-${seed}`), 2)
      })
    }
  })

  it("without check-quorum, a cut-off leader keeps believing it leads (control)", () => {
    Simulator.run({ seed: 650, voters: [1, 2, 3], raft: { checkQuorum: false } }, (sim) => {
      const l = waitForOneLeader(sim, [1, 2, 3])
      sim.network.isolate(l)
      sim.runFor(5 * ELECTION)
      expect(sim.node(l).raw!.isLeader).toBe(true)
    })
  })
})
