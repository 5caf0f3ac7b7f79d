/**
 * `AppSim.chaos`: a seeded random fault schedule, one fault at a time, like a Jepsen nemesis.
 * Until `forMs` of virtual time have passed it waits a quiet spell, starts a fault drawn from
 * `faults`, holds it, and undoes it:
 *
 * - `crash`: a running node crashes; undone by restarting it;
 * - `killLeader`: the leader of the shard of a random key of a random keyspace crashes; restarted;
 * - `partition`: a random minority of the running nodes is cut from the rest (Raft traffic); healed;
 * - `cut`: Raft traffic from one running node to another is lost (one way); healed;
 * - `isolate`: a running node loses its NATS connection; healed;
 * - `linkFaults`: every link loses, duplicates, delays and reorders frames; cleared;
 * - `skew`: a running node's clock gets an offset of up to ±30 s and a drift of -20% to +30%
 *   (SimClock.ts); both set back to 0 (the drift's accumulated error stays, as after NTP);
 * - `disk`: a disk fault of `diskFaults` on a running node (a failed write or sync or a full disk
 *   ends the node at its next write; corrupted data is read back by a restart); undone by
 *   clearing it and restarting the node if it died (or, after corruption, restarting it again).
 *
 * Faults that would take a running node down are only drawn while at least 3 nodes run, so a
 * majority of every 3-replica group survives each fault. `heal` undoes every cut, the test's own
 * included. The draws come from the seed and the virtual time the schedule starts at: a seed
 * replays the same schedule. Every fault is written in the log (`[test] ...`) and returned.
 */
import { Effect } from "effect"
import type { NodeId } from "../raft/Ids.js"
import { type LinkFaultsInput, SeededRandom } from "../transport/MemoryNetwork.js"
import { DISK_FAULTS, type DiskFault } from "./AppSimDisk.js"
import type { SimFailed } from "./PlacementSim.js"
import { mixSeed } from "./RuntimeSimSeed.js"
import type { ClockSkew } from "./SimClock.js"

/** A fault family the schedule draws from (see the module comment). */
export type ChaosFault =
  | "crash"
  | "killLeader"
  | "partition"
  | "cut"
  | "isolate"
  | "linkFaults"
  | "skew"
  | "disk"

/** Every fault family. */
export const CHAOS_FAULTS: ReadonlyArray<ChaosFault> = [
  "crash",
  "killLeader",
  "partition",
  "cut",
  "isolate",
  "linkFaults",
  "skew",
  "disk",
]

/** Virtual milliseconds, drawn uniformly in `[min, max]`. */
export interface MillisRange {
  readonly min: number
  readonly max: number
}

/** A schedule. */
export interface ChaosOptions {
  /** Virtual milliseconds the schedule runs for (its last fault is undone after). */
  readonly forMs: number
  /** The families to draw from (default: all). */
  readonly faults?: ReadonlyArray<ChaosFault>
  /** How long each fault lasts (default 1,000–6,000 ms). */
  readonly holdMs?: MillisRange
  /** Quiet time before each fault (default 500–3,000 ms). */
  readonly quietMs?: MillisRange
  /** `killLeader`'s keyspaces (default: those the simulation created at the start). */
  readonly keyspaces?: ReadonlyArray<string>
  /** `disk`'s faults (default: all of them). */
  readonly diskFaults?: ReadonlyArray<DiskFault>
}

/** What a schedule played. */
export interface ChaosReport {
  /** `t=<ms> <fault>` for each fault started. */
  readonly played: ReadonlyArray<string>
  /** The loop deaths the disk faults caused (taken: `runSim` does not fail on them). */
  readonly loopDeaths: ReadonlyArray<string>
}

/** What the schedule acts on (an `AppSim`). */
export interface ChaosTarget {
  readonly seed: number
  readonly now: () => number
  readonly upNodes: () => NodeId[]
  readonly isUp: (node: number) => boolean
  readonly advance: (millis: number) => Effect.Effect<void>
  readonly crash: (node: number) => Effect.Effect<void, SimFailed>
  readonly restart: (node: number) => Effect.Effect<void, SimFailed>
  readonly isolate: (node: number) => Effect.Effect<void>
  readonly partition: (...nodeSets: ReadonlyArray<ReadonlyArray<number>>) => Effect.Effect<void>
  readonly cut: (from: number, to: number) => Effect.Effect<void>
  readonly heal: Effect.Effect<void>
  readonly linkFaults: (faults: LinkFaultsInput) => Effect.Effect<void>
  readonly clearLinkFaults: Effect.Effect<void>
  readonly skewClock: (node: number, skew: ClockSkew) => Effect.Effect<void>
  readonly killLeader: (keyspace: string, target: string) => Effect.Effect<NodeId, SimFailed>
  readonly diskFault: (node: number, fault: DiskFault) => Effect.Effect<void>
  readonly clearDiskFault: (node: number) => Effect.Effect<void>
  readonly takeLoopDeaths: () => string[]
}

/** A fault started: what it is and how to undo it. */
interface Started {
  readonly what: string
  readonly undo: Effect.Effect<void, SimFailed>
}

/** The draws of one schedule. */
class Draws {
  private readonly random: SeededRandom
  constructor(seed: number) {
    this.random = new SeededRandom(seed)
  }
  /** A whole number in `[min, max]`. */
  between(r: MillisRange): number {
    return r.min + Math.floor(this.random.next() * (r.max - r.min + 1))
  }
  pick<A>(xs: ReadonlyArray<A>): A {
    return xs[Math.floor(this.random.next() * xs.length)]!
  }
  /** `xs` shuffled (Fisher–Yates). */
  shuffle<A>(xs: ReadonlyArray<A>): A[] {
    const out = [...xs]
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.random.next() * (i + 1))
      ;[out[i], out[j]] = [out[j]!, out[i]!]
    }
    return out
  }
  probability(max: number): number {
    return Math.round(this.random.next() * max * 100) / 100
  }
}

/** Restarts `node` unless it runs. */
const restartIfDown = (sim: ChaosTarget, node: number) => (sim.isUp(node) ? Effect.void : sim.restart(node))

/** Starts one fault of `family`; undefined when it cannot be played now (too few nodes running). */
const start = (
  sim: ChaosTarget,
  family: ChaosFault,
  draws: Draws,
  options: ChaosOptions,
  deaths: string[],
): Effect.Effect<Started | undefined, SimFailed> =>
  Effect.gen(function* () {
    const up = sim.upNodes()
    const mayLoseOne = up.length >= 3
    switch (family) {
      case "crash": {
        if (!mayLoseOne) return undefined
        const node = draws.pick(up)
        yield* sim.crash(node)
        return { what: `crash n${node}`, undo: sim.restart(node) }
      }
      case "killLeader": {
        const keyspaces = options.keyspaces ?? []
        if (!mayLoseOne || keyspaces.length === 0) return undefined
        const keyspace = draws.pick(keyspaces)
        const key = `chaos-${draws.between({ min: 0, max: 999_999 })}`
        const node = yield* sim.killLeader(keyspace, key)
        return { what: `kill the leader of ${keyspace}/${key}: n${node}`, undo: restartIfDown(sim, node) }
      }
      case "partition": {
        if (!mayLoseOne) return undefined
        const order = draws.shuffle(up)
        const minority = order.slice(0, draws.between({ min: 1, max: Math.floor((up.length - 1) / 2) }))
        const rest = order.slice(minority.length)
        yield* sim.partition(minority, rest)
        return { what: `partition {${minority.join(",")}} {${rest.join(",")}}`, undo: sim.heal }
      }
      case "cut": {
        if (up.length < 2) return undefined
        const [from, to] = draws.shuffle(up)
        yield* sim.cut(from!, to!)
        return { what: `cut n${from} -> n${to}`, undo: sim.heal }
      }
      case "isolate": {
        if (!mayLoseOne) return undefined
        const node = draws.pick(up)
        yield* sim.isolate(node)
        return { what: `isolate n${node}`, undo: sim.heal }
      }
      case "linkFaults": {
        const faults: LinkFaultsInput = {
          drop: draws.probability(0.3),
          duplicate: draws.probability(0.2),
          delay: { min: 0, max: `${draws.between({ min: 1, max: 80 })} millis` },
          reorder: draws.probability(0.2),
        }
        yield* sim.linkFaults(faults)
        return { what: `link faults ${JSON.stringify(faults)}`, undo: sim.clearLinkFaults }
      }
      case "skew": {
        if (up.length === 0) return undefined
        const node = draws.pick(up)
        const skew = {
          offsetMs: draws.between({ min: -30_000, max: 30_000 }),
          drift: draws.between({ min: -20, max: 30 }) / 100,
        }
        yield* sim.skewClock(node, skew)
        return {
          what: `skew the clock of n${node}: ${JSON.stringify(skew)}`,
          undo: sim.skewClock(node, { offsetMs: 0, drift: 0 }),
        }
      }
      case "disk": {
        if (!mayLoseOne) return undefined
        const node = draws.pick(up)
        const fault = draws.pick(options.diskFaults ?? DISK_FAULTS)
        yield* sim.diskFault(node, fault)
        // Corrupted data matters once read: a restart reads the whole log back.
        if (fault === "corruption") yield* Effect.zipRight(sim.crash(node), sim.restart(node))
        const undo = Effect.gen(function* () {
          yield* sim.clearDiskFault(node)
          deaths.push(...sim.takeLoopDeaths())
          if (fault === "corruption" && sim.isUp(node)) yield* sim.crash(node)
          yield* restartIfDown(sim, node)
        })
        return { what: `disk fault ${fault} on n${node}`, undo }
      }
    }
  })

/** Plays a schedule (see the module comment). */
export const play = (sim: ChaosTarget, options: ChaosOptions): Effect.Effect<ChaosReport, SimFailed> =>
  Effect.gen(function* () {
    const draws = new Draws(mixSeed(sim.seed, 0xc4a05, sim.now()))
    const families = options.faults ?? CHAOS_FAULTS
    const hold = options.holdMs ?? { min: 1_000, max: 6_000 }
    const quiet = options.quietMs ?? { min: 500, max: 3_000 }
    const played: string[] = []
    const deaths: string[] = []
    const end = sim.now() + options.forMs
    while (sim.now() < end) {
      yield* sim.advance(draws.between(quiet))
      if (sim.now() >= end) break
      const started = yield* start(sim, draws.pick(families), draws, options, deaths)
      if (started === undefined) continue
      played.push(`t=${sim.now()} ${started.what}`)
      yield* sim.advance(draws.between(hold))
      yield* started.undo
    }
    return { played, loopDeaths: deaths }
  })
