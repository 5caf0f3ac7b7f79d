/**
 * An in-process network for `Transport.layerMemory`, with deterministic fault injection.
 *
 * Every ordered node pair (a *link*) has its own faults, switchable at run time:
 *
 * - `drop`: probability that a frame is lost;
 * - `duplicate`: probability that a frame is delivered twice (the copy has its own delay);
 * - `delay`: a fixed delay or a `{ min, max }` range, drawn uniformly per frame in whole ms;
 * - `reorder`: probability that a frame leaves the link's FIFO order and gets an extra delay
 *   drawn in `[0, reorderWindow]`, so later frames may overtake it.
 *
 * And cuts, on top of the faults: `partition(groups…)`, `isolate(node)`, `block(from, to)`
 * (one way), all undone by `heal`. A cut is checked when a frame is sent AND when it arrives,
 * so frames in flight across a new partition are lost, as on a real network.
 *
 * DETERMINISM: every decision comes from a seeded PRNG, one stream per link (seeded from the
 * network seed and the pair), drawn in a fixed order per frame: drop, duplicate, then for each
 * copy delay and reorder; a probability of 0 draws nothing. Delays run on Effect's `Clock`
 * (`TestClock` in `it.effect`), and frames due at the same instant arrive in the order they
 * were sent. Same seed and same sends ⇒ same delivery sequence. Without delay or reordering a
 * frame is delivered synchronously, inside `send`.
 */
import { Duration, Effect, Queue, type Scope } from "effect"
import type { NodeId } from "../raft/Ids.js"

/** Which subject of the destination node a payload goes to. */
export type FrameKind = "raft" | "snap"

/** Faults of one link, resolved (durations in milliseconds). */
export interface LinkFaults {
  readonly drop: number
  readonly duplicate: number
  readonly delayMinMillis: number
  readonly delayMaxMillis: number
  readonly reorder: number
  readonly reorderWindowMillis: number
}

/** Faults to set; unset fields keep their current value. */
export interface LinkFaultsInput {
  /** Probability in [0, 1] that a frame is lost. */
  readonly drop?: number
  /** Probability in [0, 1] that a frame is delivered twice. */
  readonly duplicate?: number
  /** A fixed delay, or a range drawn uniformly per frame. */
  readonly delay?:
    | Duration.DurationInput
    | { readonly min: Duration.DurationInput; readonly max: Duration.DurationInput }
  /** Probability in [0, 1] that a frame skips FIFO order (see `reorderWindow`). */
  readonly reorder?: number
  /** Upper bound of the extra delay of a reordered frame (default 5 ms). */
  readonly reorderWindow?: Duration.DurationInput
}

/** No faults: what every link starts with. */
export const NO_FAULTS: LinkFaults = {
  drop: 0,
  duplicate: 0,
  delayMinMillis: 0,
  delayMaxMillis: 0,
  reorder: 0,
  reorderWindowMillis: 5,
}

/** Counters of one link (or a sum of links). */
export interface LinkStats {
  /** Frames handed to the network. */
  readonly published: number
  /** Frames handed to the destination's receiver (a duplicate counts twice). */
  readonly delivered: number
  /** Frames lost to the `drop` fault. */
  readonly dropped: number
  /** Extra copies made by the `duplicate` fault. */
  readonly duplicated: number
  /** Frames lost to a partition, isolation or block (at send or at arrival). */
  readonly cut: number
  /** Frames that arrived while nobody was attached for the destination. */
  readonly undeliverable: number
  /** Frames refused because they exceed `maxPayload` (like NATS's `MAX_PAYLOAD_EXCEEDED`). */
  readonly refused: number
}

/** Receives a node's frames. Called synchronously; must not throw. */
export type Receiver = (kind: FrameKind, payload: Uint8Array) => void

/** Options of `make`. */
export interface MemoryNetworkOptions {
  /** Seed of every fault decision (default 1). */
  readonly seed?: number
  /** The cluster name every transport on this network uses (default "memory"). */
  readonly cluster?: string
  /** Largest payload the network carries, like NATS's `max_payload` (default 1 MiB). */
  readonly maxPayload?: number
}

/** The network. Create one per simulated cluster with `make`. */
export interface MemoryNetwork {
  readonly seed: number
  readonly cluster: string
  readonly maxPayload: number
  /** Sets faults on one link, or on every link without its own faults when `link` is omitted. */
  readonly setFaults: (
    faults: LinkFaultsInput,
    link?: { readonly from: NodeId; readonly to: NodeId },
  ) => Effect.Effect<void>
  /** Removes every fault (cuts stay: see `heal`). */
  readonly clearFaults: Effect.Effect<void>
  /** The faults in force on a link. */
  readonly faults: (from: NodeId, to: NodeId) => Effect.Effect<LinkFaults>
  /** Cuts the network into groups: nodes reach only their own group (unnamed nodes form one more). */
  readonly partition: (...groups: ReadonlyArray<ReadonlyArray<NodeId>>) => Effect.Effect<void>
  /** Cuts `node` off from every other node, both ways. */
  readonly isolate: (node: NodeId) => Effect.Effect<void>
  /** Cuts the link from `from` to `to` only (the other direction keeps working). */
  readonly block: (from: NodeId, to: NodeId) => Effect.Effect<void>
  /** Removes every partition, isolation and block. */
  readonly heal: Effect.Effect<void>
  /** True when no cut stands between `from` and `to` now (a node always reaches itself). */
  readonly canReach: (from: NodeId, to: NodeId) => Effect.Effect<boolean>
  /** Counters of one link, for one kind of subject or both. */
  readonly stats: (from: NodeId, to: NodeId, kind?: FrameKind) => Effect.Effect<LinkStats>
  /** Counters summed over every link. */
  readonly totals: Effect.Effect<LinkStats>
  /** Frames scheduled and not yet delivered. */
  readonly inFlight: Effect.Effect<number>
  /** Sends through the link's faults and cuts. */
  readonly publish: (from: NodeId, to: NodeId, kind: FrameKind, payload: Uint8Array) => Effect.Effect<boolean>
  /** Synchronous `publish`, for transports; false when refused as oversized. */
  readonly unsafePublish: (from: NodeId, to: NodeId, kind: FrameKind, payload: Uint8Array) => boolean
  /**
   * Hands raw bytes to `to`'s receiver at once, past faults and cuts (tests use it to inject
   * garbage). False when nobody is attached or the payload exceeds `maxPayload`.
   */
  readonly inject: (to: NodeId, kind: FrameKind, payload: Uint8Array) => Effect.Effect<boolean>
  /** Registers the receiver of `node` for the scope's lifetime. DIES if one is attached already. */
  readonly attach: (node: NodeId, receiver: Receiver) => Effect.Effect<void, never, Scope.Scope>
}

/** A small seeded PRNG (sfc32 seeded through splitmix32); `next()` is uniform in [0, 1). */
export class SeededRandom {
  private a: number
  private b: number
  private c: number
  private d = 1

  constructor(seed: number) {
    let s = seed >>> 0
    const split = () => {
      s = (s + 0x9e3779b9) >>> 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = split()
    this.b = split()
    this.c = split()
    for (let i = 0; i < 12; i++) this.next()
  }

  /** The next number in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0
    this.d = (this.d + 1) >>> 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) >>> 0
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0
    this.c = (this.c + t) >>> 0
    return t / 4294967296
  }
}

const toMillis = (d: Duration.DurationInput): number => Math.floor(Duration.toMillis(Duration.decode(d)))

const checkProbability = (name: string, p: number | undefined) => {
  if (p !== undefined && !(p >= 0 && p <= 1))
    throw new RangeError(`${name} must be a probability in [0, 1], got ${p}`)
}

const resolveFaults = (base: LinkFaults, input: LinkFaultsInput): LinkFaults => {
  checkProbability("drop", input.drop)
  checkProbability("duplicate", input.duplicate)
  checkProbability("reorder", input.reorder)
  let delayMinMillis = base.delayMinMillis
  let delayMaxMillis = base.delayMaxMillis
  if (input.delay !== undefined) {
    if (typeof input.delay === "object" && input.delay !== null && "min" in input.delay) {
      delayMinMillis = toMillis(input.delay.min)
      delayMaxMillis = toMillis(input.delay.max)
    } else {
      delayMinMillis = delayMaxMillis = toMillis(input.delay as Duration.DurationInput)
    }
  }
  if (!(delayMinMillis >= 0 && delayMaxMillis >= delayMinMillis))
    throw new RangeError(
      `delay range must satisfy 0 <= min <= max, got ${delayMinMillis}..${delayMaxMillis} ms`,
    )
  const reorderWindowMillis =
    input.reorderWindow === undefined ? base.reorderWindowMillis : toMillis(input.reorderWindow)
  return {
    drop: input.drop ?? base.drop,
    duplicate: input.duplicate ?? base.duplicate,
    delayMinMillis,
    delayMaxMillis,
    reorder: input.reorder ?? base.reorder,
    reorderWindowMillis,
  }
}

type MutableStats = { -readonly [K in keyof LinkStats]: number }
const zeroStats = (): MutableStats => ({
  published: 0,
  delivered: 0,
  dropped: 0,
  duplicated: 0,
  cut: 0,
  undeliverable: 0,
  refused: 0,
})
const addStats = (into: MutableStats, s: LinkStats) => {
  for (const k of Object.keys(into) as Array<keyof LinkStats>) into[k] += s[k]
}

interface LinkState {
  readonly random: SeededRandom
  /** Arrival time of the last FIFO frame scheduled on this link. */
  lastAt: number
  /** FIFO frames scheduled and not yet delivered. */
  fifoPending: number
}

interface Scheduled {
  readonly at: number
  readonly seq: number
  readonly from: NodeId
  readonly to: NodeId
  readonly kind: FrameKind
  readonly payload: Uint8Array
  readonly fifo: boolean
}

const linkSeed = (seed: number, from: number, to: number): number =>
  (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(from, 0x85ebca77) ^ Math.imul(to, 0xc2b2ae3d)) >>> 0

/** Creates a network; its delivery fiber lives as long as the scope. */
export const make = (options: MemoryNetworkOptions = {}): Effect.Effect<MemoryNetwork, never, Scope.Scope> =>
  Effect.gen(function* () {
    const seed = options.seed ?? 1
    const cluster = options.cluster ?? "memory"
    const maxPayload = options.maxPayload ?? 1024 * 1024
    const clock = yield* Effect.clock
    const wake = yield* Queue.sliding<void>(1)

    let defaults = NO_FAULTS
    const linkFaults = new Map<string, LinkFaults>()
    const links = new Map<string, LinkState>()
    const counters = new Map<string, MutableStats>()
    const receivers = new Map<NodeId, Receiver>()
    let groups: Map<NodeId, number> | undefined
    const isolated = new Set<NodeId>()
    const blocked = new Set<string>()
    const pending: Scheduled[] = []
    let seq = 0

    const pair = (from: NodeId, to: NodeId) => `${from}>${to}`
    const faultsOf = (from: NodeId, to: NodeId) => linkFaults.get(pair(from, to)) ?? defaults
    const linkOf = (from: NodeId, to: NodeId): LinkState => {
      const key = pair(from, to)
      let link = links.get(key)
      if (link === undefined) {
        link = { random: new SeededRandom(linkSeed(seed, from, to)), lastAt: 0, fifoPending: 0 }
        links.set(key, link)
      }
      return link
    }
    const countersOf = (from: NodeId, to: NodeId, kind: FrameKind): MutableStats => {
      const key = `${from}>${to}:${kind}`
      let c = counters.get(key)
      if (c === undefined) counters.set(key, (c = zeroStats()))
      return c
    }
    const reachable = (from: NodeId, to: NodeId): boolean => {
      if (from === to) return true
      if (isolated.has(from) || isolated.has(to) || blocked.has(pair(from, to))) return false
      if (groups === undefined) return true
      return (groups.get(from) ?? -1) === (groups.get(to) ?? -1)
    }

    const deliver = (s: { from: NodeId; to: NodeId; kind: FrameKind; payload: Uint8Array }) => {
      const c = countersOf(s.from, s.to, s.kind)
      if (!reachable(s.from, s.to)) {
        c.cut++
        return
      }
      const receiver = receivers.get(s.to)
      if (receiver === undefined) {
        c.undeliverable++
        return
      }
      c.delivered++
      receiver(s.kind, s.payload)
    }

    const schedule = (s: Scheduled) => {
      let lo = 0
      let hi = pending.length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        const p = pending[mid]!
        if (p.at < s.at || (p.at === s.at && p.seq < s.seq)) lo = mid + 1
        else hi = mid
      }
      pending.splice(lo, 0, s)
      wake.unsafeOffer(undefined)
    }

    const unsafePublish = (from: NodeId, to: NodeId, kind: FrameKind, payload: Uint8Array): boolean => {
      const c = countersOf(from, to, kind)
      if (payload.length > maxPayload) {
        c.refused++
        return false
      }
      c.published++
      if (!reachable(from, to)) {
        c.cut++
        return true
      }
      const f = faultsOf(from, to)
      const link = linkOf(from, to)
      const rnd = link.random
      if (f.drop > 0 && rnd.next() < f.drop) {
        c.dropped++
        return true
      }
      let copies = 1
      if (f.duplicate > 0 && rnd.next() < f.duplicate) {
        copies = 2
        c.duplicated++
      }
      const now = clock.unsafeCurrentTimeMillis()
      for (let i = 0; i < copies; i++) {
        const span = f.delayMaxMillis - f.delayMinMillis
        const delay = f.delayMinMillis + (span > 0 ? Math.floor(rnd.next() * (span + 1)) : 0)
        const reordered = f.reorder > 0 && rnd.next() < f.reorder
        if (reordered) {
          const extra = Math.floor(rnd.next() * (f.reorderWindowMillis + 1))
          schedule({ at: now + delay + extra, seq: seq++, from, to, kind, payload, fifo: false })
          continue
        }
        const at = Math.max(now + delay, link.lastAt)
        if (at <= now && link.fifoPending === 0) {
          deliver({ from, to, kind, payload })
          continue
        }
        link.lastAt = at
        link.fifoPending++
        schedule({ at, seq: seq++, from, to, kind, payload, fifo: true })
      }
      return true
    }

    const runDue = Effect.sync(() => {
      const now = clock.unsafeCurrentTimeMillis()
      while (pending.length > 0 && pending[0]!.at <= now) {
        const s = pending.shift()!
        if (s.fifo) linkOf(s.from, s.to).fifoPending--
        deliver(s)
      }
      return pending.length === 0 ? undefined : pending[0]!.at - now
    })
    const loop: Effect.Effect<never> = Effect.forever(
      Effect.flatMap(runDue, (wait) =>
        wait === undefined
          ? Queue.take(wake)
          : Effect.raceFirst(Effect.sleep(Duration.millis(wait)), Queue.take(wake)),
      ),
    )
    yield* Effect.forkScoped(loop)

    const sum = (match: (key: string) => boolean): LinkStats => {
      const total = zeroStats()
      for (const [key, c] of counters) if (match(key)) addStats(total, c)
      return total
    }

    const network: MemoryNetwork = {
      seed,
      cluster,
      maxPayload,
      setFaults: (faults, link) =>
        Effect.sync(() => {
          if (link === undefined) defaults = resolveFaults(defaults, faults)
          else linkFaults.set(pair(link.from, link.to), resolveFaults(faultsOf(link.from, link.to), faults))
        }),
      clearFaults: Effect.sync(() => {
        defaults = NO_FAULTS
        linkFaults.clear()
      }),
      faults: (from, to) => Effect.sync(() => faultsOf(from, to)),
      partition: (...parts) =>
        Effect.sync(() => {
          groups = new Map()
          parts.forEach((part, i) => {
            for (const node of part) groups!.set(node, i)
          })
        }),
      isolate: (node) => Effect.sync(() => void isolated.add(node)),
      block: (from, to) => Effect.sync(() => void blocked.add(pair(from, to))),
      heal: Effect.sync(() => {
        groups = undefined
        isolated.clear()
        blocked.clear()
      }),
      canReach: (from, to) => Effect.sync(() => reachable(from, to)),
      stats: (from, to, kind) =>
        Effect.sync(() =>
          sum((key) =>
            kind === undefined ? key.startsWith(`${pair(from, to)}:`) : key === `${pair(from, to)}:${kind}`,
          ),
        ),
      totals: Effect.sync(() => sum(() => true)),
      inFlight: Effect.sync(() => pending.length),
      publish: (from, to, kind, payload) => Effect.sync(() => unsafePublish(from, to, kind, payload)),
      unsafePublish,
      inject: (to, kind, payload) =>
        Effect.sync(() => {
          const receiver = receivers.get(to)
          if (receiver === undefined || payload.length > maxPayload) return false
          receiver(kind, payload)
          return true
        }),
      attach: (node, receiver) =>
        Effect.acquireRelease(
          Effect.suspend(() =>
            receivers.has(node)
              ? Effect.dieMessage(`MemoryNetwork: node ${node} is attached already`)
              : Effect.sync(() => void receivers.set(node, receiver)),
          ),
          () => Effect.sync(() => void receivers.delete(node)),
        ),
    }
    return network
  })
