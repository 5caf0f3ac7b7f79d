/**
 * Restart of simulated clusters from LevelDB. Several Raft groups run in the deterministic
 * simulator (clients, lossy links, crashes, snapshots and compaction); every durable change of
 * every replica is mirrored, in the order it happened, into its node's LevelDB store (node n
 * holds replica n of every group, as a real node does). After the stores are closed and
 * reopened, each group's hard state, log and snapshot must be exactly what the simulator's
 * storage holds; then the clusters restart from what the stores loaded, keep running under
 * faults, and are compared again.
 *
 * Replay a failure with `FLOTILLA_SEED=<seed>`.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { GroupId } from "../../src/raft/Ids.js"
import type { MemoryStorage } from "../../src/raft/Storage.js"
import * as LevelLogStore from "../../src/storage/LevelLogStore.js"
import type { GroupUpdate, LogStoreService } from "../../src/storage/LogStore.js"
import { toMemoryStorage } from "../../src/storage/Restore.js"
import type { Simulator as Sim } from "../../src/testing/Simulator.js"
import { Simulator } from "../../src/testing/Simulator.js"
import { seeds, testRand } from "../raft/support/sim.js"
import { describeStorage } from "./harness.js"

const NODES = [1, 2, 3] as const
const GROUPS = 4

/** Every replica's durable changes not yet written to its node's store, in order. */
type Pending = Map<number, GroupUpdate[]>

const mirror = (sims: ReadonlyArray<Sim>): Pending => {
  const pending: Pending = new Map(NODES.map((n) => [n, []]))
  for (const [g, sim] of sims.entries()) {
    sim.onPersist((id, update) => {
      pending.get(id)!.push({ groupId: GroupId(g + 1), ...update })
    })
  }
  return pending
}

/**
 * Writes each node's pending updates to its store in order. A write call carries at most one
 * update per group (as an engine round does), so a run of one group's updates takes several.
 */
const flush = (pending: Pending, stores: ReadonlyMap<number, LogStoreService>) =>
  Effect.forEach(NODES, (n) => {
    const updates = pending.get(n)!.splice(0)
    const calls: GroupUpdate[][] = []
    let call: GroupUpdate[] = []
    for (const u of updates) {
      if (call.some((c) => c.groupId === u.groupId)) {
        calls.push(call)
        call = []
      }
      call.push(u)
    }
    if (call.length > 0) calls.push(call)
    return Effect.forEach(calls, (c, i) => stores.get(n)!.write(c, { sync: i === calls.length - 1 }), {
      discard: true,
    })
  })

const openStores = (dir: string) =>
  Effect.map(
    Effect.forEach(NODES, (n) => LevelLogStore.make(join(dir, `node-${n}`))),
    (stores) => new Map(NODES.map((n, i) => [n, stores[i]!])),
  )

/** Reopens every node's store and loads every group it holds. */
const reload = (dir: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const stores = yield* openStores(dir)
      const loaded = new Map<string, MemoryStorage>()
      for (const n of NODES) {
        const store = stores.get(n)!
        expect(yield* store.groups).toEqual(Array.from({ length: GROUPS }, (_, g) => GroupId(g + 1)))
        for (let g = 0; g < GROUPS; g++) {
          loaded.set(`${n}/${g}`, toMemoryStorage(yield* store.load(GroupId(g + 1))))
        }
      }
      return loaded
    }),
  )

const expectSame = (sims: ReadonlyArray<Sim>, loaded: ReadonlyMap<string, MemoryStorage>, when: string) => {
  sims.forEach((sim, g) => {
    for (const n of NODES) {
      const want = describeStorage(sim.node(n).storage)
      expect(describeStorage(loaded.get(`${n}/${g}`)!), `${when}: node ${n}, group ${g + 1}`).toEqual(want)
    }
  })
}

/** Runs every group for `ms` of virtual time in slices, crashing and restarting replicas. */
const churn = (
  sims: ReadonlyArray<Sim>,
  pending: Pending,
  stores: ReadonlyMap<number, LogStoreService>,
  rand: ReturnType<typeof testRand>,
  ms: number,
) =>
  Effect.gen(function* () {
    for (let t = 0; t < ms; t += 500) {
      for (const sim of sims) {
        sim.runFor(500)
        if (t === 0) {
          // A follower misses three seconds of writes: the leader compacts past it, so it
          // catches up by snapshot.
          const leader = sim.leader()
          const follower = NODES.find((n) => n !== leader?.id && sim.node(n).up)
          if (follower !== undefined) sim.crash(follower)
          continue
        }
        if (t < 3_000) continue
        const down = NODES.filter((n) => !sim.node(n).up)
        for (const n of down) if (rand.int(2) === 0) sim.restart(n)
        // At most one replica down: the group keeps a quorum and the laggard needs a snapshot.
        if (down.length === 0 && rand.int(4) === 0) sim.crash(NODES[rand.int(NODES.length)]!)
      }
      yield* flush(pending, stores)
    }
  })

const settle = (sims: ReadonlyArray<Sim>) => {
  for (const sim of sims) {
    sim.stopClients()
    sim.restartAll()
    sim.setReliable(true)
    sim.waitForConvergence()
    sim.checkLinearizable()
  }
}

describe("restart of simulated clusters from LevelDB", () => {
  for (const seed of seeds(3, 7100)) {
    it(`reproduces every group's hard state, log and snapshot (seed ${seed})`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "flotilla-simrestart-"))
      const sims = Array.from(
        { length: GROUPS },
        (_, g) => new Simulator({ seed: seed * 16 + g, snapshotEvery: 30, keepAfterSnapshot: 5 }),
      )
      const rand = testRand(seed)
      const pending = mirror(sims)
      /** Clients and faults for `ms` of virtual time, mirrored into the stores; then all stop. */
      const runPhase = (ms: number) =>
        Effect.scoped(
          Effect.gen(function* () {
            const stores = yield* openStores(dir)
            for (const sim of sims) {
              sim.waitForLeader()
              sim.setReliable(false)
              sim.startClients({ clients: 3 })
            }
            yield* churn(sims, pending, stores, rand, ms)
            settle(sims)
            for (const sim of sims) sim.crashAll()
            yield* flush(pending, stores)
          }),
        )
      const program = Effect.gen(function* () {
        // 1. Run with clients and faults, mirroring into the stores; stop everything.
        yield* runPhase(20_000)
        const first = yield* reload(dir)
        expectSame(sims, first, "after the first run")
        // The followers that were down caught up by snapshot, so snapshots were written.
        for (const sim of sims) expect(NODES.some((n) => sim.node(n).snapshotsInstalled > 0)).toBe(true)

        // 2. Restart every replica from what its store loaded and run again.
        for (const [g, sim] of sims.entries()) for (const n of NODES) sim.restart(n, first.get(`${n}/${g}`)!)
        yield* runPhase(10_000)
        expectSame(sims, yield* reload(dir), "after the restart from LevelDB")
      })
      try {
        await Effect.runPromise(program)
      } catch (e) {
        throw new Error(`seed ${seed} (replay with FLOTILLA_SEED=${seed}): ${e}`, { cause: e })
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }, 60_000)
  }
})
