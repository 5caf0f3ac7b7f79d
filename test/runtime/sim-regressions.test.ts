/**
 * Runtime bugs the simulation found, each pinned by the seed that exposed it (and a few more).
 * Replay with FLOTILLA_SEED=<seed>.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { GroupId, NodeId, replicaIdOf } from "../../src/raft/Ids.js"
import * as RuntimeSim from "../../src/testing/RuntimeSim.js"

describe("runtime simulation: regressions", () => {
  // Pipelined rounds collected a replica again while the write carrying its own snapshot was in
  // flight, so the same snapshot rode in two writes; the store refused the second ("snapshot
  // at index 42 is not newer than the stored snapshot at 42") and the group stopped on that node.
  for (const seed of RuntimeSim.seeds([11, 12])) {
    it.effect(
      `a snapshot of our own state is persisted once, however many rounds overlap its write (seed ${seed})`,
      () =>
        RuntimeSim.run(
          { seed, nodes: 3, groups: 10, settings: { snapshotEntries: 20, keepEntries: 5 } },
          (sim) =>
            Effect.gen(function* () {
              const all = sim.groupIds.map(Number)
              yield* sim.waitForLeaders()
              yield* sim.workload({ groups: all, writes: 1_000, concurrency: 64 })
              for (const n of sim.nodeIds) {
                for (const g of yield* sim.status(n)) expect(g.stopped).toBeUndefined()
              }
              const finals = yield* sim.verify({ groups: all })
              for (const s of finals.values()) expect(s.count).toBe(100)
            }),
        ),
    )
  }

  // A quiesced leader never ticks, so it never checks its quorum: cut off from its followers,
  // it kept leading (and serving its group subject) for as long as the partition lasted. Two
  // fixes: liveness wakes the quiesced groups led here that have a voter on a silent node, and
  // a leader only quiesces while check-quorum would pass (else it fell asleep again, at the
  // very tick its second check was due).
  for (const seed of RuntimeSim.seeds([21, 22])) {
    it.effect(`an isolated node's quiesced leaders step down (seed ${seed})`, () =>
      RuntimeSim.run({ seed, nodes: 3, groups: 10 }, (sim) =>
        Effect.gen(function* () {
          const leaders = yield* sim.waitForLeaders()
          yield* sim.until(
            "every group quiesced",
            Effect.map(
              Effect.forEach(sim.nodeIds, (n) => sim.stats(n)),
              (all) => all.every((s) => s.activeGroups === 0),
            ),
          )
          const victim = [...leaders.values()][0]!
          const others = sim.nodeIds.filter((n) => n !== victim)
          yield* sim.isolate(victim)
          yield* sim.until(
            "the isolated node leads no group",
            Effect.map(sim.status(victim), (gs) => gs.every((g) => !g.isLeader)),
            { timeoutMs: 10_000 },
          )
          const after = yield* sim.waitForLeaders({ among: others })
          expect(after.size).toBe(10)
          yield* sim.heal
          yield* sim.workload({ groups: sim.groupIds.map(Number), writes: 50 })
          yield* sim.verify({ groups: sim.groupIds.map(Number) })
        }),
      ),
    )
  }

  // A leader replicated a proposal, lost leadership before hearing the acknowledgements, and
  // later received a snapshot covering the entry: it failed the waiter with `ProposalFailed`
  // ("it did not take effect, retry is safe") although the entry had committed. The client
  // retried and the command applied twice. Now such a waiter gets `OutcomeUnknown`.
  for (const seed of RuntimeSim.seeds([71, 72])) {
    it.effect(
      `a proposal replaced by a snapshot is answered OutcomeUnknown, not ProposalFailed (seed ${seed})`,
      () =>
        RuntimeSim.run(
          {
            seed,
            nodes: 3,
            groups: 1,
            settings: { snapshotEntries: 10, keepEntries: 2 },
            // The client outlasts the whole episode, so it sees the old leader's answer.
            client: { requestTimeoutMs: 20_000 },
          },
          (sim) =>
            Effect.gen(function* () {
              const leader = (yield* sim.waitForLeaders()).get(1)!
              const others = sim.nodeIds.filter((n) => n !== leader)
              yield* sim.workload({ groups: [1], writes: 5 })
              // The leader's appends reach the followers; their acknowledgements do not come back.
              for (const f of others) yield* sim.network.block(f, leader)
              const write = yield* sim.fork(sim.client.write(1, "replicated-but-unacknowledged"))
              // Check-quorum deposes it; a follower holding the entry wins, commits it, and compacts past it.
              yield* sim.waitForLeaders({ among: others, timeoutMs: 20_000 })
              yield* sim.workload({ groups: [1], writes: 30, prefix: "more" })
              yield* sim.heal
              yield* sim.join(write)
              const op = sim.client.history.operations.find((o) => o.attempts.length > 1)
              expect(op?.attempts[0]?.error).toBe("OutcomeUnknown")
              const finals = yield* sim.verify({ groups: [1] })
              // Applied twice: the client retried an attempt that had in fact committed.
              expect(finals.get(1)?.count).toBe(37)
            }),
        ),
    )
  }

  // A replica that restarted from its own snapshot, with entries kept behind it for slow
  // followers, restored its state machine at the snapshot but its Raft core started applying
  // at the first kept entry: the entries between were applied a second time and the replica
  // diverged (count 80 where the others had 75, at the same applied index).
  for (const seed of RuntimeSim.seeds([81, 82])) {
    it.effect(`a node restarted from its own snapshot applies every entry once (seed ${seed})`, () =>
      RuntimeSim.run(
        { seed, nodes: 3, groups: 4, settings: { snapshotEntries: 20, keepEntries: 5 } },
        (sim) =>
          Effect.gen(function* () {
            const all = sim.groupIds.map(Number)
            yield* sim.waitForLeaders()
            yield* sim.workload({ groups: all, writes: 200 })
            yield* sim.verify({ groups: all })
            for (const n of sim.nodeIds) {
              yield* sim.crash(n)
              yield* sim.restart(n)
              yield* sim.workload({ groups: all, writes: 40, prefix: `after-${n}` })
              yield* sim.verify({ groups: all })
            }
          }),
      ),
    )
  }
  // Issue 12, finding 1. After a NATS restart, leader balancing still sent its transfers to the
  // node it believed led; that node's replica was a follower by then and forwarded the
  // TransferLeader to the new leader with the transferee as `from`, a replica of another node.
  // The frame encoder refuses such a message (a frame's messages are all from its source node)
  // by throwing, and the throw ended the node's engine loop: the process lived on, its replicas
  // never moved again. A follower now refuses the transfer (NotLeader) and the transport drops
  // (and counts) any message it cannot encode instead of throwing.
  for (const seed of RuntimeSim.seeds([121, 122, 123])) {
    it.effect(
      `transfers asked of a deposed leader after a bus outage leave its node running (seed ${seed})`,
      () =>
        RuntimeSim.run({ seed, nodes: 3, groups: 12 }, (sim) =>
          Effect.gen(function* () {
            const all = sim.groupIds.map(Number)
            const { victim, led } = RuntimeSim.busiestLeader(yield* sim.waitForLeaders())
            const majority = sim.nodeIds.filter((n) => n !== victim)
            // The victim's NATS connection drops (the server restarts); the majority elects.
            yield* sim.isolate(victim)
            yield* sim.waitForLeaders({ groups: led, among: majority, timeoutMs: 30_000 })
            yield* sim.heal
            const node = yield* sim.node(victim)
            yield* sim.until(
              "the deposed leader follows the new leaders",
              Effect.map(sim.status(victim), (gs) =>
                gs.every((g) => !led.includes(g.groupId) || (g.leader !== 0 && !g.isLeader)),
              ),
              { timeoutMs: 30_000 },
            )
            const leaders = yield* sim.leaders({ groups: led })
            let refused = 0
            for (const g of led) {
              // The balancer's stale view: move the group's leadership to the third node.
              const target = majority.find((n) => n !== leaders.get(g))!
              const r = yield* sim.run(
                Effect.either(node.transferLeader(GroupId(g), replicaIdOf(NodeId(target)))),
              )
              if (r._tag === "Left") {
                expect(r.left._tag).toBe("NotLeader")
                refused++
              }
            }
            expect(refused).toBe(led.length)
            sim.note(`asked node ${victim} to transfer ${led.length} group(s) it no longer leads`)
            yield* sim.workload({ groups: all, writes: 240, concurrency: 16 })
            // Every node, the victim included, applies the same log: its loop is alive.
            yield* sim.verify({ groups: all, timeoutMs: 30_000 })
            for (const n of sim.nodeIds) {
              for (const g of yield* sim.status(n)) expect(g.stopped).toBeUndefined()
            }
          }),
        ),
    )
  }
})
