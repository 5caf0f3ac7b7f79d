/**
 * Seeded fault schedules for the KV simulation (KvSim.ts), aimed at leader changes: each step
 * waits a drawn time, lifts the previous fault (heal, restart the crashed node), then injects a
 * new one, mostly on the current leader of a drawn KV shard: a crash (restarted on the next
 * step: a restart on its disk), an isolation (its NATS connection lost: Raft frames and bus), a
 * Raft-only partition that leaves it in a minority (the bus stays whole, so clients still reach
 * the deposed leader), or a crash of a follower. Every fault is a `NOTE` line of the failure
 * report; `settle` lifts them all at the end.
 */
import { Effect } from "effect"
import { SeededRandom } from "../transport/MemoryNetwork.js"
import type { KvSim } from "./KvSim.js"
import { mixSeed } from "./RuntimeSimSeed.js"

/** How to play a schedule. */
export interface FaultOptions {
  /** Faults injected (default 8). */
  readonly steps?: number
  /** Virtual ms between two steps: drawn in [min, max) (default 600 .. 2,000). */
  readonly gapMs?: readonly [number, number]
  /** Which faults to draw from (default: all). */
  readonly kinds?: ReadonlyArray<FaultKind>
  /** The shard groups whose leaders are aimed at (default: every shard). */
  readonly groups?: ReadonlyArray<number>
  /** Distinguishes several schedules of one run (default 0). */
  readonly stream?: number
}

export type FaultKind = "crashLeader" | "isolateLeader" | "partitionLeader" | "crashFollower"

const ALL: ReadonlyArray<FaultKind> = ["crashLeader", "isolateLeader", "partitionLeader", "crashFollower"]

/** Lifts every fault: heals the network and restarts every crashed node. */
export const settle = (kv: KvSim): Effect.Effect<void> =>
  Effect.gen(function* () {
    const { sim } = kv
    yield* sim.heal
    for (const n of sim.nodeIds) if (!sim.isUp(n)) yield* Effect.orDie(sim.restart(n))
  })

/** Plays a seeded schedule (see the module comment); the faults it leaves are lifted by `settle`. */
export const play = (kv: KvSim, options: FaultOptions = {}): Effect.Effect<void> =>
  Effect.gen(function* () {
    const { sim } = kv
    const rnd = new SeededRandom(mixSeed(kv.seed, 0xfa17, options.stream ?? 0))
    const [min, max] = options.gapMs ?? [600, 2_000]
    const kinds = options.kinds ?? ALL
    const draw = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(rnd.next() * xs.length)]!
    for (let step = 0; step < (options.steps ?? 8); step++) {
      yield* sim.advance(min + Math.floor(rnd.next() * (max - min)))
      const down = sim.nodeIds.filter((n) => !sim.isUp(n))
      if (down.length > 0) sim.note(`restart ${down.join(", ")}`)
      yield* settle(kv)
      const group = draw(options.groups ?? kv.shardGroups)
      const leader = (yield* sim.leaders({ groups: [group] })).get(group)
      const kind = draw(kinds)
      const victim = kind === "crashFollower" || leader === undefined ? undefined : leader
      const others = sim.nodeIds.filter((n) => n !== leader)
      switch (kind) {
        case "crashLeader":
        case "crashFollower": {
          const n = victim ?? draw(others)
          sim.note(`crash node ${n} (${n === leader ? "leader" : "follower"} of group ${group})`)
          yield* Effect.orDie(sim.crash(n))
          break
        }
        case "isolateLeader": {
          const n = victim ?? draw(sim.nodeIds)
          sim.note(`isolate node ${n} (leader of group ${group}: ${leader ?? "none"})`)
          yield* sim.isolate(n)
          break
        }
        case "partitionLeader": {
          const n = victim ?? draw(sim.nodeIds)
          sim.note(`partition node ${n} | rest, Raft only (leader of group ${group}: ${leader ?? "none"})`)
          yield* sim.partition(
            [n],
            sim.nodeIds.filter((x) => x !== n),
          )
          break
        }
      }
    }
  })
