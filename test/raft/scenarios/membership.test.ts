/**
 * Membership changes: joint consensus with crashes in the middle of the joint phase, learners
 * catching up (by snapshot) without ever voting, and demotion through learners_next.
 */
import { describe, expect, it } from "vitest"
import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  confChange,
  decodeConfChange,
  leaveJoint,
} from "../../../src/raft/ConfChange.js"
import { EntryType, type ReplicaId, StateType } from "../../../src/raft/Types.js"
import { encodeKv } from "../../../src/testing/KvModel.js"
import { Simulator } from "../../../src/testing/Simulator.js"
import { check, seeds, testRand, waitForOneLeader } from "../support/sim.js"

const ELECTION = 2_000
const put = (key: string, value: string) => encodeKv({ op: "put", key, value })
const add = (id: number) => ({ type: ConfChangeType.AddNode, nodeId: id as ReplicaId })
const remove = (id: number) => ({ type: ConfChangeType.RemoveNode, nodeId: id as ReplicaId })
const learner = (id: number) => ({ type: ConfChangeType.AddLearner, nodeId: id as ReplicaId })

/**
 * Proposes `cc` on whoever leads until an entry carrying it is applied by the leader; returns
 * its index. Refusals because another change is in flight, or no leader, are retried.
 */
const changeConfig = (sim: Simulator, cc: ConfChange, limit = 30_000): number => {
  const end = sim.now + limit
  while (sim.now < end) {
    const r = sim.proposeConfChange(cc)
    if (r._tag === "InvalidConfChange") throw new Error(`refused: ${r.reason}`)
    if (r._tag !== "Proposed") {
      sim.runFor(100)
      continue
    }
    const index = r.index
    const done = () => {
      const e = sim.nApplied(index).entry
      return e !== undefined
    }
    sim.runUntil(() => done() || sim.now >= end, limit, "the conf change")
    const e = sim.nApplied(index).entry
    if (e?.type === EntryType.ConfChange) {
      const got = decodeConfChange(e.data)
      if (got && got.changes.length === cc.changes.length && got.transition === cc.transition) {
        // Wait for the leader to apply it too (it may be another replica that applied first).
        sim.runUntil(() => (sim.leader()?.applied ?? 0) >= index, limit, "the leader to apply it")
        return index
      }
    }
  }
  throw new Error(`conf change not applied within ${limit}`)
}

const configs = (sim: Simulator, ids: readonly number[]) =>
  ids.map((id) => sim.node(id).raw!.describeConfig())

describe("membership", () => {
  it("a joint change survives the leader crashing in the joint phase, then leaves it", () => {
    for (const seed of seeds(4, 3000)) {
      Simulator.run({ seed, snapshotEvery: 20, keepAfterSnapshot: 5 }, (sim) => {
        const rand = testRand(seed)
        for (let i = 0; i < 30; i++) sim.agree(put(`j${i % 4}`, `${i}`), 3)
        sim.addReplica(4)
        sim.addReplica(5)
        changeConfig(sim, confChange([learner(4)]))
        changeConfig(sim, confChange([learner(5)]))
        sim.agree(put("j", "learners"), 5)
        // Replace 1 and 2 by 4 and 5 in one joint step, staying joint until told to leave.
        changeConfig(
          sim,
          confChange([add(4), add(5), remove(1), remove(2)], ConfChangeTransition.JointExplicit),
        )
        sim.waitForConvergence()
        for (const c of configs(sim, [1, 2, 3, 4, 5])) expect(c).toBe("voters=(3 4 5)&&(1 2 3)")

        // Crash the leader (and, half the time, another member of the old half) mid-joint.
        const l = sim.leader()!.id
        sim.crash(l)
        const second = rand.int(2) === 0 ? [1, 2, 3].find((id) => id !== l && sim.node(id).up) : undefined
        if (second !== undefined) {
          // Losing two of {1, 2, 3} leaves the outgoing half without a majority: nothing commits.
          sim.crash(second)
          sim.runFor(2 * ELECTION)
          const before = Math.max(...sim.liveNodes().map((n) => n.committed))
          const leader = sim.leader()
          if (leader) {
            sim.with(leader.id, (n) => n.raw!.propose(put("j", "stuck")))
            sim.runFor(ELECTION)
          }
          for (const n of sim.liveNodes()) {
            const e = n.appliedEntries.get(before + 1)
            check(
              sim,
              e === undefined || !new TextDecoder().decode(e.data).includes("stuck"),
              "committed without the old half",
            )
          }
          sim.restart(second)
        }
        const live = [1, 2, 3, 4, 5].filter((id) => sim.node(id).up)
        waitForOneLeader(sim, live)
        sim.agree(put("j", "joint"), 3)
        sim.restart(l)
        changeConfig(sim, leaveJoint())
        sim.waitForConvergence()
        for (const c of configs(sim, [3, 4, 5])) expect(c).toBe("voters=(3 4 5)")
        // 1 and 2 are out: the group keeps working without them.
        sim.crash(1)
        sim.crash(2)
        sim.agree(put("j", "final"), 3)
        for (const id of [3, 4, 5]) expect(sim.node(id).kv.get("j")).toBe("final")
      })
    }
  })

  it("a crash at a random moment of an auto-leaving joint change leaves every replica consistent", () => {
    for (const seed of seeds(6, 3100)) {
      Simulator.run({ seed, voters: [1, 2, 3, 4] }, (sim) => {
        const rand = testRand(seed)
        sim.addReplica(5)
        sim.agree(put("a", "0"), 4)
        // 4 out, 5 in, in one joint change that the leader leaves by itself.
        const r = sim.proposeConfChange(confChange([add(5), remove(4)], ConfChangeTransition.JointImplicit))
        expect(r._tag).toBe("Proposed")
        sim.runFor(rand.int(120))
        const victim = rand.int(2) === 0 ? sim.leader()?.id : rand.pick([1, 2, 3])
        if (victim !== undefined) sim.crash(victim)
        sim.runFor(rand.int(3_000))
        if (victim !== undefined) sim.restart(victim)
        sim.waitForLeader()
        // Either the change committed (and was left) or it was lost with the old leader.
        const c = sim.leader()!.raw!.describeConfig()
        if (c === "voters=(1 2 3 4)")
          changeConfig(sim, confChange([add(5), remove(4)], ConfChangeTransition.JointImplicit))
        sim.runUntil(
          () => sim.leader()?.raw?.describeConfig() === "voters=(1 2 3 5)",
          20_000,
          "the joint configuration to be left",
        )
        sim.agree(put("a", "1"), 4)
        sim.waitForConvergence()
        for (const id of [1, 2, 3, 5]) expect(sim.node(id).raw!.describeConfig()).toBe("voters=(1 2 3 5)")
      })
    }
  })

  it("a learner catches up by snapshot, never votes or campaigns, and is then promoted", () => {
    for (const seed of seeds(4, 3200)) {
      Simulator.run({ seed, snapshotEvery: 10, keepAfterSnapshot: 2 }, (sim) => {
        for (let i = 0; i < 60; i++) sim.agree(put(`l${i % 5}`, `${i}`), 3)
        const l4 = sim.addReplica(4)
        changeConfig(sim, confChange([learner(4)]))
        sim.agree(put("l", "joined"), 4)
        sim.waitForConvergence()
        expect(l4.snapshotsInstalled).toBeGreaterThanOrEqual(1)
        expect(l4.kv.get("l4")).toBe("59")
        expect(l4.raw!.describeConfig()).toBe("voters=(1 2 3) learners=(4)")
        const lead = sim.leader()!
        expect(lead.raw!.status().progress.get(4 as ReplicaId)?.isLearner).toBe(true)

        // Cut off, a learner waits: no campaign, no new term.
        const term = l4.raw!.term
        sim.network.isolate(4)
        sim.runFor(5 * ELECTION)
        expect(l4.raw!.term).toBe(term)
        expect(l4.raw!.internals.state).toBe(StateType.Follower)
        sim.network.rejoin(4)

        // A learner does not count towards a quorum: two voters down, nothing commits.
        const down = [1, 2, 3].filter((id) => id !== lead.id)
        for (const id of down) sim.crash(id)
        const r = lead.raw!.propose(put("l", "no-quorum"))
        sim.with(lead.id, () => {})
        const index = (r as { index: number }).index
        sim.runFor(ELECTION / 2)
        expect(sim.nApplied(index).count).toBe(0)
        for (const id of down) sim.restart(id)
        waitForOneLeader(sim, [1, 2, 3])

        // Promotion: a voter now, counted in the quorum.
        changeConfig(sim, confChange([add(4)]))
        sim.waitForConvergence()
        for (const id of [1, 2, 3, 4]) expect(sim.node(id).raw!.describeConfig()).toBe("voters=(1 2 3 4)")
        sim.crash(1)
        sim.crash(2)
        sim.restart(1)
        sim.agree(put("l", "voter"), 3)
      })
    }
  })

  it("demotes a voter to learner through learners_next, and it stays a learner across restarts", () => {
    for (const seed of seeds(3, 3300)) {
      Simulator.run({ seed }, (sim) => {
        sim.agree(put("d", "0"), 3)
        sim.addReplica(4)
        changeConfig(sim, confChange([learner(4)]))
        sim.agree(put("d", "1"), 4)
        changeConfig(sim, confChange([add(4), learner(3)], ConfChangeTransition.JointExplicit))
        sim.waitForConvergence()
        for (const id of [1, 2, 3, 4]) {
          expect(sim.node(id).raw!.describeConfig()).toBe("voters=(1 2 4)&&(1 2 3) learners_next=(3)")
        }
        changeConfig(sim, leaveJoint())
        sim.waitForConvergence()
        for (const id of [1, 2, 3, 4]) {
          expect(sim.node(id).raw!.describeConfig()).toBe("voters=(1 2 4) learners=(3)")
        }
        sim.crashAll()
        sim.restartAll()
        sim.waitForConvergence()
        for (const id of [1, 2, 3, 4]) {
          expect(sim.node(id).raw!.describeConfig()).toBe("voters=(1 2 4) learners=(3)")
        }
        expect(sim.leader()!.id).not.toBe(3)
        sim.agree(put("d", "2"), 4)
      })
    }
  })

  it("a leader that removes itself steps down once the change applies; the rest elect a leader", () => {
    for (const seed of seeds(3, 3350)) {
      Simulator.run({ seed, voters: [1, 2, 3, 4] }, (sim) => {
        const l = waitForOneLeader(sim, [1, 2, 3, 4])
        sim.agree(put("s", "0"), 4)
        changeConfig(sim, confChange([remove(l)]))
        const rest = [1, 2, 3, 4].filter((id) => id !== l)
        const next = waitForOneLeader(sim, rest)
        expect(next).not.toBe(l)
        sim.agree(put("s", "1"), 3)
        // The removed replica cannot campaign any more: it never leads again.
        sim.runFor(3 * ELECTION)
        expect(sim.node(l).raw!.isLeader).toBe(false)
        expect(sim.leader()!.id).toBe(next)
        for (const id of rest) expect(sim.node(id).raw!.describeConfig()).toBe(`voters=(${rest.join(" ")})`)
      })
    }
  })

  it("refuses a second change while one is pending, and changes that can never apply", () => {
    Simulator.run({ seed: 3400 }, (sim) => {
      const l = waitForOneLeader(sim, [1, 2, 3])
      sim.agree(put("r", "0"), 3)
      sim.addReplica(4)
      const raw = sim.node(l).raw!
      expect(raw.proposeConfChange(confChange([learner(4)]))._tag).toBe("Proposed")
      expect(raw.proposeConfChange(confChange([learner(5)]))).toMatchObject({
        _tag: "ProposalDropped",
        reason: "ConfChangeInProgress",
      })
      sim.with(l, () => {})
      sim.waitForConvergence()
      // Two voters at once without joint consensus, removing every voter, leaving a non-joint
      // configuration: typed refusals, nothing appended.
      const last = raw.status().lastIndex
      expect(raw.proposeConfChange(confChange([add(4), add(5)], ConfChangeTransition.Auto))._tag).toBe(
        "Proposed",
      )
      sim.with(l, () => {})
      sim.waitForConvergence()
      const after = raw.status().lastIndex
      expect(after).toBeGreaterThan(last)
      expect(raw.proposeConfChange(leaveJoint())._tag).toBe("InvalidConfChange")
      expect(
        raw.proposeConfChange(
          confChange(
            [remove(1), remove(2), remove(3), remove(4), remove(5)],
            ConfChangeTransition.JointExplicit,
          ),
        )._tag,
      ).toBe("InvalidConfChange")
      expect(raw.status().lastIndex).toBe(after)
    })
  })
})
