/**
 * Persistence across crashes: whole-cluster and partial restarts, and the Figure 8 scenario of
 * the Raft paper (a leader must not commit an entry of an earlier term by counting replicas),
 * on a reliable and on an unreliable network.
 *
 * A crash loses what the replica had not yet persisted: the simulator handles each Ready in two
 * events (take, then persist after a disk latency) and a crash may fall between them.
 */
import { describe, expect, it } from "vitest"
import { encodeKv } from "../../../src/testing/KvModel.js"
import { unreliableLink } from "../../../src/testing/SimNetwork.js"
import { Simulator } from "../../../src/testing/Simulator.js"
import { bytes, check, seeds, testRand, waitForOneLeader } from "../support/sim.js"

const ELECTION = 2_000
const put = (key: string, value: string) => encodeKv({ op: "put", key, value })

describe("persistence", () => {
  it("survives whole-cluster restarts and the loss of leaders and followers in turn", () => {
    for (const seed of seeds(4, 1600)) {
      Simulator.run({ seed }, (sim) => {
        sim.agree(put("p", "11"), 3)
        sim.crashAll()
        sim.restartAll()
        sim.agree(put("p", "12"), 3)

        const l1 = sim.leader()!.id
        sim.crash(l1)
        sim.restart(l1)
        sim.agree(put("p", "13"), 3)

        const l2 = sim.leader()!.id
        sim.crash(l2)
        sim.agree(put("p", "14"), 2)
        sim.restart(l2)
        waitForOneLeader(sim, [1, 2, 3])

        const f = [1, 2, 3].find((id) => id !== sim.leader()!.id)!
        sim.crash(f)
        sim.agree(put("p", "15"), 2)
        sim.restart(f)
        sim.agree(put("p", "16"), 3)
        sim.waitForConvergence()
        for (const id of [1, 2, 3]) expect(sim.node(id).kv.get("p")).toBe("16")
      })
    }
  })

  it("keeps committed entries when a majority crashes and restarts, again and again", () => {
    for (const seed of seeds(3, 1700)) {
      const ids = [1, 2, 3, 4, 5]
      Simulator.run({ seed, voters: ids }, (sim) => {
        let index = 1
        for (let iter = 0; iter < 5; iter++) {
          sim.agree(put("q", `${index++}`), 5)
          const l = sim.leader()!.id
          const a = ((l + 0) % 5) + 1
          const b = ((l + 1) % 5) + 1
          sim.crash(a)
          sim.crash(b)
          sim.agree(put("q", `${index++}`), 3)
          const c = ((l + 2) % 5) + 1
          const d = ((l + 3) % 5) + 1
          const e = ((l + 4) % 5) + 1
          sim.crash(c)
          sim.crash(d)
          sim.crash(e)
          sim.restart(a)
          sim.restart(b)
          sim.restart(c)
          sim.agree(put("q", `${index++}`), 3)
          sim.restart(d)
          sim.restart(e)
        }
        sim.agree(put("q", "last"), 5)
        sim.waitForConvergence()
        for (const id of ids) expect(sim.node(id).kv.get("q")).toBe("last")
      })
    }
  })

  it("a partitioned leader and a crashed follower: the restarted pair does not lose commits", () => {
    for (const seed of seeds(4, 1800)) {
      Simulator.run({ seed }, (sim) => {
        sim.agree(put("w", "101"), 3)
        const l = sim.leader()!.id
        const f = (l % 3) + 1
        const g = (f % 3) + 1
        sim.network.isolate(f)
        sim.agree(put("w", "102"), 2)
        sim.crash(l)
        sim.crash(g)
        sim.network.rejoin(f)
        sim.restart(g)
        sim.agree(put("w", "103"), 2)
        sim.restart(l)
        sim.agree(put("w", "104"), 3)
        sim.waitForConvergence()
        for (const id of [1, 2, 3]) expect(sim.node(id).kv.get("w")).toBe("104")
      })
    }
  })

  /**
   * Figure 8 (the paper's §5.4.2): repeatedly propose on whoever leads and crash the leader at a
   * random moment, keeping a quorum alive. Leaders of later terms then meet entries of earlier
   * terms replicated on a majority; committing those by counting would let a later leader
   * overwrite a committed entry, which the state-machine-safety invariant reports.
   */
  const figure8 = (seed: number, reliable: boolean, iterations: number) =>
    Simulator.run(
      {
        seed,
        voters: [1, 2, 3, 4, 5],
        // One entry per MsgApp and one MsgApp in flight: acknowledgements arrive entry by entry,
        // so a leader often sees an earlier term's entry on a quorum before one of its own term.
        raft: { maxSizePerMsg: 1, maxInflightMsgs: 1 },
      },
      (sim) => {
        const rand = testRand(seed)
        const ids = [1, 2, 3, 4, 5]
        // Reliable: nothing lost or duplicated, but delays vary widely, so messages reorder and a
        // leader's crash often falls in the middle of a replication round.
        sim.setLinkFaults(reliable ? { drop: 0, duplicate: 0, latency: [1, 60] } : unreliableLink)
        // How often a leader held a quorum on an entry of an earlier term that it did not commit.
        let withheld = 0
        sim.onStep(() => {
          for (const n of sim.leaders()) {
            const r = n.raw!.internals
            const q = r.prs.committed()
            if (q > r.log.committed && (r.log.term(q) ?? r.term) < r.term) withheld++
          }
        })
        sim.agree(bytes(`f8-start-${seed}`), 1)
        let up = 5
        let seq = 0
        for (let iter = 0; iter < iterations; iter++) {
          let leader = -1
          for (const n of sim.liveNodes()) {
            if (!n.raw!.isLeader) continue
            sim.with(n.id, (node) => node.raw!.propose(put(`f${seq % 3}`, `${seq}`)))
            seq++
            leader = n.id
          }
          // Mostly a short pause (about a heartbeat), sometimes up to half an election timeout.
          sim.runFor(rand.int(1000) < 100 ? rand.int(ELECTION / 4) : rand.int(130))
          if (leader !== -1) {
            sim.crash(leader)
            up--
          }
          if (up < 3) {
            const s = rand.pick(ids)
            if (!sim.node(s).up) {
              sim.restart(s)
              up++
            }
          }
        }
        sim.restartAll()
        sim.setReliable(true)
        sim.agree(bytes(`f8-end-${seed}`), 5, { limit: 60_000 })
        sim.waitForConvergence()
        return withheld
      },
    )

  it("Figure 8: never commits an earlier term's entry by counting (reliable network)", () => {
    let withheld = 0
    for (const seed of seeds(10, 1900)) withheld += figure8(seed, true, 1000)
    // The run must actually reach the situation the rule is about.
    expect(withheld).toBeGreaterThan(0)
  })

  it("Figure 8: never commits an earlier term's entry by counting (unreliable network)", () => {
    let withheld = 0
    for (const seed of seeds(10, 2000)) withheld += figure8(seed, false, 1000)
    expect(withheld).toBeGreaterThan(0)
  })

  it("crashes of any replica in the middle of its writes never lose an acknowledged entry", () => {
    // A replica acknowledges entries (and grants votes) only once they are durable: crashing
    // between taking a Ready and finishing its write must not lose anything a quorum counted.
    // Three voters: an entry acknowledged too early by one follower may then live on the leader
    // alone, so losing it takes only the next crash.
    for (const seed of seeds(10, 2050)) {
      const ids = [1, 2, 3]
      Simulator.run({ seed, voters: ids, diskLatency: [5, 40], maxReadiesInFlight: 2 }, (sim) => {
        const rand = testRand(seed)
        sim.startClients({ clients: 4, keys: 3, thinkTime: [0, 10] })
        for (let iter = 0; iter < 150; iter++) {
          sim.runFor(rand.int(150))
          // Crash a replica that has a write in flight, leader or follower; restart it soon.
          const busy = sim.liveNodes().filter((n) => n.inFlightReadies.length > 0)
          if (busy.length === 0 || sim.liveNodes().length < 3) continue
          const victim = rand.pick(busy).id
          sim.crash(victim)
          sim.at(rand.int(400), () => sim.restart(victim))
        }
        sim.restartAll()
        sim.stopClients()
        sim.runFor(4_000)
        sim.agree(bytes(`mid-write-${seed}`), 3)
        sim.waitForConvergence()
        sim.checkLinearizable()
      })
    }
  })

  it("restarts with the same hard state, log and state machine it had persisted", () => {
    for (const seed of seeds(3, 2100)) {
      Simulator.run({ seed }, (sim) => {
        for (let i = 0; i < 10; i++) sim.agree(put("h", `${i}`), 3)
        sim.waitForConvergence()
        const before = [1, 2, 3].map((id) => {
          const n = sim.node(id)
          return { hs: n.raw!.status().hardState, last: n.raw!.status().lastIndex, kv: n.kv.get("h") }
        })
        sim.crashAll()
        sim.restartAll()
        // Right after restart, before any event: the same durable state, applied again from the log.
        const after = [1, 2, 3].map((id) => {
          const n = sim.node(id)
          return { hs: n.raw!.status().hardState, last: n.raw!.status().lastIndex }
        })
        expect(after).toEqual(before.map(({ hs, last }) => ({ hs, last })))
        sim.waitForConvergence()
        for (const id of [1, 2, 3]) expect(sim.node(id).kv.get("h")).toBe("9")
        check(sim, sim.leader()!.raw!.term > before[0]!.hs.term, "a new term after the restart")
      })
    }
  })
})
