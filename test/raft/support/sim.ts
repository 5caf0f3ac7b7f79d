/**
 * Helpers shared by the Raft scenario and property tests: seed lists (overridable for replay),
 * byte helpers, and cluster-level waits built on the simulator's public API.
 */
import type { ReplicaId } from "../../../src/raft/Types.js"
import { SimulationFailure, type Simulator } from "../../../src/testing/Simulator.js"

/**
 * `n` seeds starting at `base`, or the comma-separated list in `FLOTILLA_SEED` (replay a
 * failure with `FLOTILLA_SEED=<seed> npx vitest run --config test/vitest.config.ts <file>`).
 */
export const seeds = (n: number, base = 1): number[] => {
  const env = process.env.FLOTILLA_SEED
  if (env !== undefined && env.trim() !== "") return env.split(",").map((s) => Number(s.trim()))
  return Array.from({ length: n }, (_, i) => base + i)
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export const bytes = (s: string): Uint8Array => encoder.encode(s)
export const text = (b: Uint8Array): string => decoder.decode(b)

/** Throws a SimulationFailure (which names the seed) unless `cond` holds. */
export const check = (sim: Simulator, cond: boolean, what: string): void => {
  if (!cond) throw new SimulationFailure(sim.seed, sim.now, new Error(what))
}

/**
 * Runs until exactly one replica of `among` leads and every one of `among` follows it in its
 * term; returns its id. Fails (with the seed) after `limit`.
 */
export const waitForOneLeader = (sim: Simulator, among: readonly number[], limit = 30_000): ReplicaId => {
  let leader: ReplicaId | undefined
  sim.runUntil(
    () => {
      const nodes = among.map((id) => sim.node(id))
      if (nodes.some((n) => !n.up)) return false
      const leaders = nodes.filter((n) => n.raw!.isLeader)
      if (leaders.length !== 1) return false
      const l = leaders[0]!
      if (!nodes.every((n) => n.raw!.leader === l.id && n.raw!.term === l.raw!.term)) return false
      leader = l.id
      return true
    },
    limit,
    `one leader among ${among.join(",")}`,
  )
  return leader!
}

/** Runs until `id` leads and every one of `among` follows it; fails (with the seed) after `limit`. */
export const waitForLeaderToBe = (
  sim: Simulator,
  id: number,
  among: readonly number[],
  limit = 30_000,
): void => {
  sim.runUntil(
    () => {
      const l = sim.node(id)
      if (!l.up || !l.raw!.isLeader) return false
      return among.every(
        (x) => sim.node(x).up && sim.node(x).raw!.leader === id && sim.node(x).raw!.term === l.raw!.term,
      )
    },
    limit,
    `${id} to lead ${among.join(",")}`,
  )
}

/** Ids of the live replicas that believe they lead. */
export const leaderIds = (sim: Simulator, among?: readonly number[]): number[] =>
  sim
    .leaders()
    .map((n) => n.id as number)
    .filter((id) => among === undefined || among.includes(id))

/** A small seeded generator for test-side choices (separate from the simulator's). */
export const testRand = (seed: number) => {
  let s = (seed ^ 0x5bd1e995) >>> 0 || 1
  return {
    /** Uniform integer in [0, n). */
    int(n: number): number {
      s ^= s << 13
      s >>>= 0
      s ^= s >>> 17
      s ^= s << 5
      s >>>= 0
      return s % n
    },
    pick<T>(xs: readonly T[]): T {
      return xs[this.int(xs.length)]!
    },
    /** `k` distinct elements of `xs`. */
    sample<T>(xs: readonly T[], k: number): T[] {
      const copy = [...xs]
      const out: T[] = []
      while (out.length < k && copy.length > 0) out.push(copy.splice(this.int(copy.length), 1)[0]!)
      return out
    },
  }
}
