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

const pair = (from: NodeId, to: NodeId) => `${from}>${to}`

const linkSeed = (seed: number, from: number, to: number): number =>
  (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(from, 0x85ebca77) ^ Math.imul(to, 0xc2b2ae3d)) >>> 0

interface LinkState {
  readonly random: SeededRandom
  /** Arrival time of the last FIFO frame scheduled on this link. */
  lastAt: number
  /** FIFO frames scheduled and not yet delivered. */
  fifoPending: number
}

/** Every link's faults, its random stream and FIFO state, and its counters per kind. */
class Links {
  /** The faults of links without their own. */
  private defaults = NO_FAULTS
  private readonly faults = new Map<string, LinkFaults>()
  private readonly states = new Map<string, LinkState>()
  private readonly counters = new Map<string, MutableStats>()

  constructor(private readonly seed: number) {}

  faultsOf(from: NodeId, to: NodeId): LinkFaults {
    return this.faults.get(pair(from, to)) ?? this.defaults
  }

  setFaults(input: LinkFaultsInput, link: { readonly from: NodeId; readonly to: NodeId } | undefined): void {
    if (link === undefined) this.defaults = resolveFaults(this.defaults, input)
    else this.faults.set(pair(link.from, link.to), resolveFaults(this.faultsOf(link.from, link.to), input))
  }

  clearFaults(): void {
    this.defaults = NO_FAULTS
    this.faults.clear()
  }

  stateOf(from: NodeId, to: NodeId): LinkState {
    const key = pair(from, to)
    let link = this.states.get(key)
    if (link === undefined) {
      link = { random: new SeededRandom(linkSeed(this.seed, from, to)), lastAt: 0, fifoPending: 0 }
      this.states.set(key, link)
    }
    return link
  }

  countersOf(from: NodeId, to: NodeId, kind: FrameKind): MutableStats {
    const key = `${pair(from, to)}:${kind}`
    let c = this.counters.get(key)
    if (c === undefined) this.counters.set(key, (c = zeroStats()))
    return c
  }

  /** Counters of one link (one kind, or both), or of every link when `link` is omitted. */
  stats(link?: {
    readonly from: NodeId
    readonly to: NodeId
    readonly kind?: FrameKind | undefined
  }): LinkStats {
    const total = zeroStats()
    const prefix = link === undefined ? undefined : `${pair(link.from, link.to)}:`
    for (const [key, c] of this.counters) {
      const match =
        prefix === undefined ||
        (link?.kind === undefined ? key.startsWith(prefix) : key === `${prefix}${link.kind}`)
      if (match) addStats(total, c)
    }
    return total
  }
}

/** Partitions, isolations and one-way blocks, checked when a frame is sent and when it arrives. */
class Cuts {
  private groups: Map<NodeId, number> | undefined
  private readonly isolated = new Set<NodeId>()
  private readonly blocked = new Set<string>()

  partition(parts: ReadonlyArray<ReadonlyArray<NodeId>>): void {
    const groups = new Map<NodeId, number>()
    parts.forEach((part, i) => {
      for (const node of part) groups.set(node, i)
    })
    this.groups = groups
  }

  isolate(node: NodeId): void {
    this.isolated.add(node)
  }

  block(from: NodeId, to: NodeId): void {
    this.blocked.add(pair(from, to))
  }

  heal(): void {
    this.groups = undefined
    this.isolated.clear()
    this.blocked.clear()
  }

  /** True when no cut stands between `from` and `to` (a node always reaches itself). */
  reachable(from: NodeId, to: NodeId): boolean {
    if (from === to) return true
    if (this.isolated.has(from) || this.isolated.has(to) || this.blocked.has(pair(from, to))) return false
    if (this.groups === undefined) return true
    return (this.groups.get(from) ?? -1) === (this.groups.get(to) ?? -1)
  }
}

interface Frame {
  readonly from: NodeId
  readonly to: NodeId
  readonly kind: FrameKind
  readonly payload: Uint8Array
}

interface Scheduled extends Frame {
  readonly at: number
  readonly seq: number
  readonly fifo: boolean
}

/**
 * The network's frames: sent through each link's faults and cuts (`publish`), held until
 * their arrival time when delayed (`runDue` delivers them), handed to the receivers.
 */
class Frames {
  readonly links: Links
  readonly cuts = new Cuts()
  readonly receivers = new Map<NodeId, Receiver>()
  /** Delayed frames, by arrival time, then send order. */
  private readonly pending: Scheduled[] = []
  private seq = 0

  constructor(
    seed: number,
    private readonly maxPayload: number,
    private readonly nowMs: () => number,
    /** Called when a frame is scheduled (wakes the delivery fiber). */
    private readonly onScheduled: () => void,
  ) {
    this.links = new Links(seed)
  }

  /** Sends one frame through its link's faults and cuts; false when refused as oversized. */
  publish(from: NodeId, to: NodeId, kind: FrameKind, payload: Uint8Array): boolean {
    const c = this.links.countersOf(from, to, kind)
    if (payload.length > this.maxPayload) {
      c.refused++
      return false
    }
    c.published++
    if (!this.cuts.reachable(from, to)) {
      c.cut++
      return true
    }
    const f = this.links.faultsOf(from, to)
    const link = this.links.stateOf(from, to)
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
    const now = this.nowMs()
    for (let i = 0; i < copies; i++) this.sendCopy({ from, to, kind, payload }, f, link, now)
    return true
  }

  /** One copy of a frame: its delay and reordering drawn, delivered now or scheduled. */
  private sendCopy(frame: Frame, f: LinkFaults, link: LinkState, now: number): void {
    const rnd = link.random
    const span = f.delayMaxMillis - f.delayMinMillis
    const delay = f.delayMinMillis + (span > 0 ? Math.floor(rnd.next() * (span + 1)) : 0)
    const reordered = f.reorder > 0 && rnd.next() < f.reorder
    if (reordered) {
      const extra = Math.floor(rnd.next() * (f.reorderWindowMillis + 1))
      this.schedule({ ...frame, at: now + delay + extra, seq: this.seq++, fifo: false })
      return
    }
    const at = Math.max(now + delay, link.lastAt)
    if (at <= now && link.fifoPending === 0) {
      this.deliver(frame)
      return
    }
    link.lastAt = at
    link.fifoPending++
    this.schedule({ ...frame, at, seq: this.seq++, fifo: true })
  }

  private schedule(s: Scheduled): void {
    const pending = this.pending
    let lo = 0
    let hi = pending.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const p = pending[mid]!
      if (p.at < s.at || (p.at === s.at && p.seq < s.seq)) lo = mid + 1
      else hi = mid
    }
    pending.splice(lo, 0, s)
    this.onScheduled()
  }

  /** Hands a frame to its receiver, unless a cut stands in the way now. */
  private deliver(s: Frame): void {
    const c = this.links.countersOf(s.from, s.to, s.kind)
    if (!this.cuts.reachable(s.from, s.to)) {
      c.cut++
      return
    }
    const receiver = this.receivers.get(s.to)
    if (receiver === undefined) {
      c.undeliverable++
      return
    }
    c.delivered++
    receiver(s.kind, s.payload)
  }

  /** Delivers every frame due now; the milliseconds until the next one (undefined: none). */
  runDue(): number | undefined {
    const now = this.nowMs()
    const pending = this.pending
    while (pending.length > 0 && pending[0]!.at <= now) {
      const s = pending.shift()!
      if (s.fifo) this.links.stateOf(s.from, s.to).fifoPending--
      this.deliver(s)
    }
    return pending.length === 0 ? undefined : pending[0]!.at - now
  }

  /** Frames scheduled and not yet delivered. */
  inFlight(): number {
    return this.pending.length
  }

  /** Raw bytes to `to`'s receiver at once, past faults and cuts. */
  inject(to: NodeId, kind: FrameKind, payload: Uint8Array): boolean {
    const receiver = this.receivers.get(to)
    if (receiver === undefined || payload.length > this.maxPayload) return false
    receiver(kind, payload)
    return true
  }
}

/** Creates a network; its delivery fiber lives as long as the scope. */
export const make = (options: MemoryNetworkOptions = {}): Effect.Effect<MemoryNetwork, never, Scope.Scope> =>
  Effect.gen(function* () {
    const seed = options.seed ?? 1
    const maxPayload = options.maxPayload ?? 1024 * 1024
    const clock = yield* Effect.clock
    const wake = yield* Queue.sliding<void>(1)
    const frames = new Frames(
      seed,
      maxPayload,
      () => clock.unsafeCurrentTimeMillis(),
      () => wake.unsafeOffer(undefined),
    )
    yield* Effect.forkScoped(deliveryLoop(frames, wake))
    return networkOf(frames, { seed, cluster: options.cluster ?? "memory", maxPayload })
  })

/** Delivers delayed frames when they are due; wakes early when a frame is scheduled. */
const deliveryLoop = (frames: Frames, wake: Queue.Queue<void>): Effect.Effect<never> =>
  Effect.forever(
    Effect.flatMap(
      Effect.sync(() => frames.runDue()),
      (wait) =>
        wait === undefined
          ? Queue.take(wake)
          : Effect.raceFirst(Effect.sleep(Duration.millis(wait)), Queue.take(wake)),
    ),
  )

const networkOf = (
  frames: Frames,
  o: { readonly seed: number; readonly cluster: string; readonly maxPayload: number },
): MemoryNetwork => {
  const { links, cuts, receivers } = frames
  return {
    ...o,
    setFaults: (faults, link) => Effect.sync(() => links.setFaults(faults, link)),
    clearFaults: Effect.sync(() => links.clearFaults()),
    faults: (from, to) => Effect.sync(() => links.faultsOf(from, to)),
    partition: (...parts) => Effect.sync(() => cuts.partition(parts)),
    isolate: (node) => Effect.sync(() => cuts.isolate(node)),
    block: (from, to) => Effect.sync(() => cuts.block(from, to)),
    heal: Effect.sync(() => cuts.heal()),
    canReach: (from, to) => Effect.sync(() => cuts.reachable(from, to)),
    stats: (from, to, kind) => Effect.sync(() => links.stats({ from, to, kind })),
    totals: Effect.sync(() => links.stats()),
    inFlight: Effect.sync(() => frames.inFlight()),
    publish: (from, to, kind, payload) => Effect.sync(() => frames.publish(from, to, kind, payload)),
    unsafePublish: (from, to, kind, payload) => frames.publish(from, to, kind, payload),
    inject: (to, kind, payload) => Effect.sync(() => frames.inject(to, kind, payload)),
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
}
