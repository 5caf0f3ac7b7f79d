/**
 * Snapshots: replicas compact their logs behind snapshots, so a follower that fell behind gets
 * the leader's snapshot in chunks (InstallSnapshot) and catches up from there; on a reliable
 * network, an unreliable one (lost, duplicated, reordered chunks), and across crashes of the
 * receiver and of the sender in the middle of a transfer.
 */
import { describe, expect, it } from "vitest"
import { ProgressState } from "../../../src/raft/Progress.js"
import { MessageType, type ReplicaId } from "../../../src/raft/Types.js"
import { encodeKv } from "../../../src/testing/KvModel.js"
import { Simulator } from "../../../src/testing/Simulator.js"
import { check, seeds, testRand, waitForOneLeader } from "../support/sim.js"

const put = (key: string, value: string) => encodeKv({ op: "put", key, value })

/** Snapshot every 10 applied entries, keep 2 behind: a follower 20 entries back needs a snapshot. */
const SNAP = { snapshotEvery: 10, keepAfterSnapshot: 2 } as const

const countSnapChunks = (sim: Simulator) => {
  const counts = { chunks: 0 }
  sim.onSend((m) => {
    if (m.type === MessageType.Snap) counts.chunks++
  })
  return counts
}

const expectSameState = (sim: Simulator, ids: readonly number[]) => {
  sim.waitForConvergence()
  const want = sim.summary(ids[0]!).kv
  for (const id of ids) expect(sim.summary(id).kv).toBe(want)
}

describe("snapshots", () => {
  it("installs the leader's snapshot on a follower that fell behind (reliable network)", () => {
    for (const seed of seeds(4, 2400)) {
      Simulator.run({ seed, ...SNAP, raft: { maxSnapshotChunkBytes: 16 } }, (sim) => {
        const rand = testRand(seed)
        const chunks = countSnapChunks(sim)
        let v = 0
        for (let iter = 0; iter < 6; iter++) {
          const l = waitForOneLeader(sim, [1, 2, 3])
          const f = rand.pick([1, 2, 3].filter((id) => id !== l))
          const crash = iter % 2 === 1
          if (crash) sim.crash(f)
          else sim.network.isolate(f)
          for (let i = 0; i < 25; i++) sim.agree(put(`s${i % 5}`, `${++v}`), 2)
          if (crash) sim.restart(f)
          else sim.network.rejoin(f)
          const installed = sim.node(f).snapshotsInstalled
          sim.agree(put("s-iter", `${iter}`), 3)
          sim.waitForConvergence()
          check(
            sim,
            sim.node(f).snapshotsInstalled > installed,
            `round ${iter}: ${f} caught up without a snapshot`,
          )
        }
        // Several chunks per snapshot: the state machine holds far more than 16 bytes.
        check(sim, chunks.chunks >= 6 * 3, `only ${chunks.chunks} snapshot chunks sent`)
        expectSameState(sim, [1, 2, 3])
        for (const id of [1, 2, 3]) expect(sim.node(id).kv.get("s-iter")).toBe("5")
      })
    }
  })

  it("streams a snapshot over a reordering network with a bounded number of resends", () => {
    // The receiver keeps chunks in order only, so reordering costs resends; they must stay a
    // small multiple of the snapshot (a leader stuck resending, as a follower holding a stale
    // snapshot once made it, floods the network instead).
    for (const seed of seeds(4, 2450)) {
      Simulator.run({ seed, ...SNAP, raft: { maxSnapshotChunkBytes: 8 } }, (sim) => {
        const chunks = countSnapChunks(sim)
        const l = waitForOneLeader(sim, [1, 2, 3])
        const f = [1, 2, 3].find((id) => id !== l)!
        sim.crash(f)
        for (let i = 0; i < 30; i++) sim.agree(put(`r${i % 6}`, `value-${i}`), 2)
        sim.setLinkFaults({ drop: 0, duplicate: 0, latency: [1, 40] })
        sim.restart(f)
        sim.runUntil(() => sim.node(f).snapshotsInstalled > 0, 20_000, "the snapshot")
        const size = sim.node(f).storage.snapshot()
        const total = "_tag" in size ? 0 : size.data.length
        const needed = Math.ceil(total / 8)
        check(
          sim,
          chunks.chunks <= 10 * needed,
          `${chunks.chunks} chunks sent for a ${needed}-chunk snapshot`,
        )
        sim.setReliable(true)
        expectSameState(sim, [1, 2, 3])
      })
    }
  })

  it("installs snapshots over an unreliable network (lost, duplicated, reordered chunks)", () => {
    for (const seed of seeds(4, 2500)) {
      Simulator.run(
        { seed, voters: [1, 2, 3, 4, 5], ...SNAP, raft: { maxSnapshotChunkBytes: 32 } },
        (sim) => {
          const rand = testRand(seed)
          sim.startClients({ clients: 3, keys: 4 })
          const lagging = new Map<number, number>()
          for (let iter = 0; iter < 5; iter++) {
            sim.setReliable(false)
            const victims = rand.sample([1, 2, 3, 4, 5], 2)
            for (const id of victims) {
              lagging.set(id, sim.node(id).snapshotsInstalled)
              if (rand.int(2) === 0) sim.crash(id)
              else sim.network.isolate(id)
            }
            sim.runFor(6_000)
            for (const id of victims) {
              sim.restart(id)
              sim.network.rejoin(id)
            }
            sim.runFor(4_000)
          }
          sim.setReliable(true)
          sim.stopClients()
          sim.runFor(4_000)
          expectSameState(sim, [1, 2, 3, 4, 5])
          sim.checkLinearizable()
          const installs = [...lagging].filter(([id, before]) => sim.node(id).snapshotsInstalled > before)
          check(sim, installs.length > 0, "no lagging replica needed a snapshot")
        },
      )
    }
  })

  it("finishes a transfer after the receiver crashes in the middle of it", () => {
    for (const seed of seeds(4, 2600)) {
      Simulator.run(
        { seed, ...SNAP, raft: { maxSnapshotChunkBytes: 16, maxInflightSnapshotChunks: 2 } },
        (sim) => {
          const l = waitForOneLeader(sim, [1, 2, 3])
          const f = [1, 2, 3].find((id) => id !== l)!
          sim.crash(f)
          for (let i = 0; i < 40; i++) sim.agree(put(`c${i % 8}`, `value-${i}`), 2)
          // Crash the receiver when its third chunk arrives, twice; then let it finish.
          let delivered = 0
          let crashes = 0
          const off = sim.onDeliver((m) => {
            if (m.type !== MessageType.Snap || m.to !== f || !sim.node(f).up) return
            if (++delivered % 3 === 0 && crashes < 2) {
              crashes++
              sim.crash(f)
              sim.at(500, () => sim.restart(f))
            }
          })
          sim.restart(f)
          sim.runUntil(() => crashes === 2 && sim.node(f).up, 30_000, "two crashes mid-transfer")
          sim.agree(put("after", "1"), 3)
          off()
          expectSameState(sim, [1, 2, 3])
          expect(sim.node(f).snapshotsInstalled).toBeGreaterThanOrEqual(1)
          expect(sim.node(f).kv.get("c7")).toBe("value-39")
        },
      )
    }
  })

  it("finishes after the sender crashes in the middle of a transfer (the next leader resends)", () => {
    for (const seed of seeds(4, 2700)) {
      const ids = [1, 2, 3, 4, 5]
      Simulator.run(
        { seed, voters: ids, ...SNAP, raft: { maxSnapshotChunkBytes: 16, maxInflightSnapshotChunks: 1 } },
        (sim) => {
          const l = waitForOneLeader(sim, ids)
          const f = ids.find((id) => id !== l)!
          sim.crash(f)
          for (let i = 0; i < 40; i++) sim.agree(put(`d${i % 8}`, `value-${i}`), 4)
          let crashed = false
          const off = sim.onDeliver((m) => {
            if (crashed || m.type !== MessageType.Snap || m.to !== f || m.snapshot!.offset === 0) return
            crashed = true
            sim.crash(m.from)
            sim.at(3_000, () => sim.restart(m.from))
          })
          sim.restart(f)
          sim.runUntil(() => crashed, 30_000, "the leader's crash mid-transfer")
          off()
          sim.agree(put("after", "1"), 5, { limit: 60_000 })
          expectSameState(sim, ids)
          expect(sim.node(f).kv.get("d7")).toBe("value-39")
        },
      )
    }
  })

  it("restarts every replica from its snapshot and the log after it", () => {
    for (const seed of seeds(4, 2800)) {
      Simulator.run({ seed, ...SNAP }, (sim) => {
        for (let round = 0; round < 4; round++) {
          for (let i = 0; i < 13; i++) sim.agree(put(`a${i % 3}`, `${round}-${i}`), 3)
          sim.waitForConvergence()
          const before = [1, 2, 3].map((id) => sim.summary(id).kv)
          for (const id of [1, 2, 3]) {
            check(sim, sim.node(id).storage.firstIndex() > 1, `replica ${id} never compacted its log`)
          }
          sim.crashAll()
          sim.restartAll()
          // The state machine is rebuilt from the snapshot plus the committed entries after it.
          sim.waitForConvergence()
          const after = [1, 2, 3].map((id) => sim.summary(id).kv)
          expect(after).toEqual(before)
        }
        for (const id of [1, 2, 3]) expect(sim.node(id).kv.get("a0")).toBe("3-12")
      })
    }
  })

  it("sends a newer snapshot when the follower installed one the leader has since compacted past", () => {
    // Regression: the follower installed snapshot S while its answers were lost; meanwhile the
    // leader compacted past S. The leader stayed in Snapshot state for S forever, treating every
    // later answer (index S again) as stale, and the follower never caught up.
    for (const seed of seeds(3, 2850)) {
      Simulator.run({ seed, ...SNAP }, (sim) => {
        const l = waitForOneLeader(sim, [1, 2, 3])
        const f = [1, 2, 3].find((id) => id !== l)!
        sim.crash(f)
        for (let i = 0; i < 25; i++) sim.agree(put("g", `${i}`), 2)
        // Once the leader streams a snapshot, it no longer hears the follower's answers to it
        // (heartbeat answers still pass, so the leader keeps resending).
        const sending = () =>
          sim
            .node(l)
            .raw?.status()
            .progress.get(f as ReplicaId)?.state === ProgressState.Snapshot
        const mute = sim.addMessageFilter(
          (m) =>
            m.from === f && (m.type === MessageType.AppResp || m.type === MessageType.SnapResp) && sending(),
        )
        sim.restart(f)
        sim.runUntil(() => sim.node(f).snapshotsInstalled > 0, 20_000, "the first snapshot")
        const first = sim.node(f).lastSnapshotIndex
        for (let i = 25; i < 50; i++) sim.agree(put("g", `${i}`), 2)
        check(sim, sim.node(l).storage.firstIndex() > first + 1, "the leader did not compact past it")
        mute()
        sim.agree(put("g", "done"), 3)
        expectSameState(sim, [1, 2, 3])
        expect(sim.node(f).snapshotsInstalled).toBeGreaterThanOrEqual(2)
      })
    }
  })

  it("a snapshot that is temporarily unavailable delays the transfer, it does not break it", () => {
    Simulator.run({ seed: 2900, ...SNAP }, (sim) => {
      const l = waitForOneLeader(sim, [1, 2, 3])
      const f = [1, 2, 3].find((id) => id !== l)!
      sim.crash(f)
      for (let i = 0; i < 30; i++) sim.agree(put("u", `${i}`), 2)
      sim.node(l).storage.snapshotUnavailable = true
      sim.restart(f)
      sim.runFor(4_000)
      expect(sim.node(f).kv.get("u")).toBeUndefined()
      sim.node(l).storage.snapshotUnavailable = false
      sim.agree(put("u", "done"), 3)
      expectSameState(sim, [1, 2, 3])
    })
  })
})
