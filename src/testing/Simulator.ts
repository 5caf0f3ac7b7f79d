/**
 * A deterministic simulator of whole Raft clusters, for Flotilla's tests and for users'
 * fault-injection suites.
 *
 * Everything is driven by one seeded generator and a virtual-time event queue: ticks (each
 * replica's clock drifts a little), message deliveries (latency, loss, duplication and
 * reordering from `SimNetwork`), Ready processing and client operations. A Ready is handled
 * in two events, as a real node does: (1) take it and send the leader's messages, (2) after a
 * disk latency persist it, send the messages that waited for persistence, apply, advance. A
 * crash can land between the two: storage then keeps only what was persisted. With
 * `maxReadiesInFlight` > 1 Readies are pipelined: later ones are taken while earlier ones are
 * still being written, and the writes complete in order.
 *
 * Safety invariants are checked as the run goes (`Invariants`); client histories can be
 * checked for linearizability at the end. Every failure names the seed; the same seed and
 * the same test code replay the run event for event.
 *
 * The fault-injection API, in short:
 * - replicas: `crash`, `restart` (from its own storage or a given one), `crashAll`, `restartAll`,
 *   `addReplica`, `with(id, fn)`;
 * - network: `network.partition / isolate / rejoin / heal / setLink`, `setReliable`,
 *   `setLinkFaults`, and `addMessageFilter(m => boolean)` to lose chosen messages;
 * - observation: `onSend`, `onDeliver` (may crash replicas mid-protocol), `onStep` (a custom
 *   invariant after every event), `onPersist` (every durable change, as `LogStore` updates),
 *   `sent` / `sentTotal()` message counts;
 * - workload: `startClients` / `stopClients`, one-shot `submitPut` / `submitGet` with
 *   `operation(id)`, `propose`, `proposeConfChange`, `transferLeader`, `setSnapshotPolicy`;
 * - waiting and checking: `runFor`, `runUntil`, `at`, `waitForLeader`, `agree` (6.824's
 *   `one()`), `nApplied`, `converged` / `waitForConvergence`, `checkLinearizable`.
 * A burst of events at one virtual instant (a livelock) fails the run instead of hanging it.
 */
import type { ConfChange } from "../raft/ConfChange.js"
import type { InvalidConfChange, ProposalDropped, Proposed } from "../raft/Errors.js"
import { seededRand } from "../raft/Rand.js"
import { contextKey } from "../raft/ReadOnly.js"
import type { MemoryStorage } from "../raft/Storage.js"
import { type Entry, type Index, type Message, messageTypeName, type ReplicaId } from "../raft/Types.js"
import { EventQueue } from "./EventQueue.js"
import { Invariants, InvariantViolation } from "./Invariants.js"
import { encodeKv } from "./KvModel.js"
import {
  checkLinearizable,
  describeFailure,
  type KvInput,
  type KvOutput,
  kvModel,
  type Operation,
} from "./Linearizability.js"
import { type LinkFaults, type RandomSource, reliableLink, SimNetwork, unreliableLink } from "./SimNetwork.js"
import { type PersistedUpdate, type RaftOverrides, SimNode } from "./SimNode.js"

export interface SimOptions {
  readonly seed: number
  /** Initial voters (bootstrapped); default [1, 2, 3]. */
  readonly voters?: readonly number[]
  readonly learners?: readonly number[]
  /** Raft configuration for every replica (election/heartbeat ticks, pre-vote, ...). */
  readonly raft?: RaftOverrides
  /** Virtual time units per tick; default 100. */
  readonly tickInterval?: number
  /** Extra delay before a replica takes its Ready (batches work); default [0, 2]. */
  readonly readyDelay?: readonly [number, number]
  /** Disk write latency; default [0, 5]. Writes complete in the order they were issued. */
  readonly diskLatency?: readonly [number, number]
  /**
   * Readies a replica may have taken but not yet persisted and advanced (pipelined Readies,
   * as the node runtime does); default 1.
   */
  readonly maxReadiesInFlight?: number
  /** Take a snapshot every this many applied entries (0: never); default 0. */
  readonly snapshotEvery?: number
  /** Entries kept behind a snapshot when compacting; default 5. */
  readonly keepAfterSnapshot?: number
}

export interface ClientOptions {
  readonly clients: number
  readonly keys?: number
  /** Fraction of operations that are reads; default 0.3. */
  readonly readRatio?: number
  /** Give up on an operation after this long (outcome unknown); default 3,000. */
  readonly opTimeout?: number
  /** Pause between a client's operations; default [0, 20]. */
  readonly thinkTime?: readonly [number, number]
}

type SimEvent =
  | { readonly kind: "tick"; readonly id: ReplicaId; readonly life: number }
  | { readonly kind: "deliver"; readonly msg: Message }
  | { readonly kind: "ready"; readonly id: ReplicaId; readonly life: number }
  | { readonly kind: "persist"; readonly id: ReplicaId; readonly life: number }
  | { readonly kind: "client"; readonly client: number; readonly gen: number }
  | { readonly kind: "timeout"; readonly client: number; readonly opId: number }
  | { readonly kind: "call"; readonly fn: () => void }

/** The outcome of one client operation so far. */
export interface OperationStatus {
  readonly input: KvInput
  /** `pending` until answered; `unknown` when the client gave up; `failed` writes never took effect. */
  readonly state: "pending" | "ok" | "failed" | "unknown"
  readonly output: KvOutput | undefined
}

/** A hook on messages: return true to lose the message before the network sees it. */
export type MessageFilter = (m: Message) => boolean

/** An observer of messages (sent, or about to be stepped); it may act on the simulator. */
export type MessageObserver = (m: Message) => void

/** What `checkConverged` compares across live replicas. */
export interface ReplicaSummary {
  readonly id: ReplicaId
  readonly term: number
  readonly committed: Index
  readonly applied: Index
  readonly kv: string
}

interface OpRecord {
  /** The closed-loop client that issued it, or -1 for one-shot operations (`submitPut`, `submitGet`). */
  readonly client: number
  readonly input: KvInput
  readonly invokedAt: number
  completedAt: number
  output: KvOutput | undefined
  state: "pending" | "ok" | "failed" | "unknown"
}

interface ClientState {
  target: ReplicaId
  opId: number | undefined
  gen: number
}

/** More events than this at a single virtual instant is reported as a livelock. */
const MAX_EVENTS_PER_INSTANT = 100_000

/** Thrown for any failure inside a simulation; its message starts with the seed. */
export class SimulationFailure extends Error {
  constructor(
    readonly seed: number,
    readonly time: number,
    cause: unknown,
  ) {
    const inner = cause instanceof Error ? cause.message : String(cause)
    super(`[seed ${seed}, t=${time}] ${inner}\n  replay: FLOTILLA_SEED=${seed} npm test -- <this test file>`)
    this.name = "SimulationFailure"
    if (cause instanceof Error && cause.stack) this.stack = `${this.message}\n${cause.stack}`
  }
}

export class Simulator {
  readonly seed: number
  readonly nodes = new Map<ReplicaId, SimNode>()
  readonly network: SimNetwork
  readonly invariants = new Invariants()
  /** Messages sent, by type name (for message-count bounds). */
  readonly sent = new Map<string, number>()
  now = 0
  private readonly queue = new EventQueue<SimEvent>()
  private readonly rand: ReturnType<typeof seededRand>
  private readonly random: RandomSource
  private readonly tickOf = new Map<ReplicaId, number>()
  private readonly ops = new Map<number, OpRecord>()
  private readonly clients: ClientState[] = []
  private clientOpts: Required<ClientOptions> | undefined
  private nextOpId = 1
  private clock = 0
  private valueSeq = 0
  private snapshotEvery: number
  private keepAfterSnapshot: number
  private readonly filters = new Set<MessageFilter>()
  private readonly sendObservers = new Set<MessageObserver>()
  private readonly deliverObservers = new Set<MessageObserver>()
  private readonly stepObservers = new Set<() => void>()
  private readonly persistObservers = new Set<(id: ReplicaId, update: PersistedUpdate) => void>()
  private eventsAtNow = 0

  constructor(readonly options: SimOptions) {
    this.seed = options.seed
    this.rand = seededRand(options.seed)
    this.random = {
      float: () => this.rand.next() / 0x100000000,
      int: (lo, hi) => lo + this.rand.intn(hi - lo + 1),
    }
    this.network = new SimNetwork(this.random)
    this.snapshotEvery = options.snapshotEvery ?? 0
    this.keepAfterSnapshot = options.keepAfterSnapshot ?? 5
    const voters = (options.voters ?? [1, 2, 3]) as ReplicaId[]
    const learners = (options.learners ?? []) as ReplicaId[]
    for (const id of [...voters, ...learners]) {
      const node = this.newNode(id)
      node.bootstrap(voters, learners)
      this.startTicking(node)
      this.scheduleReady(node)
    }
  }

  // ---------------------------------------------------------------------------------------
  // Running

  /** Runs `fn` against a new simulator; any failure is rethrown with the seed. */
  static run<T>(options: SimOptions, fn: (sim: Simulator) => T): T {
    const sim = new Simulator(options)
    try {
      return fn(sim)
    } catch (e) {
      if (e instanceof SimulationFailure) throw e
      throw new SimulationFailure(options.seed, sim.now, e)
    }
  }

  /** Processes one event; false when nothing is scheduled. */
  step(): boolean {
    const ev = this.queue.pop()
    if (ev === undefined) return false
    if (ev.at === this.now) {
      // Virtual time must move: a burst of events at one instant is a livelock (e.g. two
      // replicas answering each other at zero latency), which would otherwise hang the test.
      if (++this.eventsAtNow > MAX_EVENTS_PER_INSTANT) {
        throw new SimulationFailure(
          this.seed,
          this.now,
          new Error(`livelock: more than ${MAX_EVENTS_PER_INSTANT} events at one instant`),
        )
      }
    } else this.eventsAtNow = 0
    this.now = ev.at
    try {
      this.handle(ev.event)
      for (const o of this.stepObservers) o()
    } catch (e) {
      throw e instanceof SimulationFailure ? e : new SimulationFailure(this.seed, this.now, e)
    }
    return true
  }

  /** Runs for `duration` units of virtual time. */
  runFor(duration: number): void {
    const end = this.now + duration
    for (;;) {
      const t = this.queue.peekTime()
      if (t === undefined || t > end) break
      this.step()
    }
    this.now = end
  }

  /** Runs until `done()` holds; fails (with the seed) after `limit` units of virtual time. */
  runUntil(done: () => boolean, limit = 100_000, what = "condition"): void {
    const end = this.now + limit
    while (!done()) {
      const t = this.queue.peekTime()
      if (t === undefined || t > end) {
        throw new SimulationFailure(
          this.seed,
          this.now,
          new Error(`timed out after ${limit} waiting for ${what}`),
        )
      }
      this.step()
    }
  }

  /** Calls `fn` at virtual time `now + delay` (fault schedules). */
  at(delay: number, fn: () => void): void {
    this.queue.push(this.now + delay, { kind: "call", fn })
  }

  // ---------------------------------------------------------------------------------------
  // Replicas

  private newNode(id: ReplicaId): SimNode {
    const node = new SimNode(id, this.seed, this.options.raft ?? {})
    node.onPersisted = (update) => {
      for (const observe of this.persistObservers) observe(id, update)
    }
    this.nodes.set(id, node)
    // Each replica's clock runs a little fast or slow.
    const base = this.options.tickInterval ?? 100
    this.tickOf.set(id, base + this.random.int(-Math.floor(base / 20), Math.floor(base / 20)))
    return node
  }

  node(id: number): SimNode {
    const n = this.nodes.get(id as ReplicaId)
    if (n === undefined) throw new Error(`no replica ${id}`)
    return n
  }

  private startTicking(node: SimNode): void {
    const interval = this.tickOf.get(node.id)!
    this.queue.push(this.now + this.random.int(1, interval), { kind: "tick", id: node.id, life: node.life })
  }

  /** Crashes a replica: it loses everything not persisted. */
  crash(id: number): void {
    this.node(id).crash()
  }

  /**
   * Restarts a crashed replica from its storage, or from `storage` (which replaces it: a
   * restart from what a real `LogStore` reloaded).
   */
  restart(id: number, storage?: MemoryStorage): void {
    const node = this.node(id)
    if (node.up) return
    if (storage !== undefined) node.replaceStorage(storage)
    node.start()
    this.startTicking(node)
    this.scheduleReady(node)
  }

  /**
   * Observes every durable change of every replica's storage, in the order it happened
   * (mirror them into a `LogStore` to test restarts from it). Returns the unsubscribe.
   */
  onPersist(observer: (id: ReplicaId, update: PersistedUpdate) => void): () => void {
    this.persistObservers.add(observer)
    return () => this.persistObservers.delete(observer)
  }

  /** Adds a replica with empty storage (it joins once a conf change adds it). */
  addReplica(id: number): SimNode {
    if (this.nodes.has(id as ReplicaId)) throw new Error(`replica ${id} exists`)
    const node = this.newNode(id as ReplicaId)
    node.start()
    this.startTicking(node)
    return node
  }

  /** The leader with the highest term among live replicas, if any. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined
    for (const n of this.nodes.values()) {
      if (n.raw?.isLeader && (best === undefined || n.raw.term > best.raw!.term)) best = n
    }
    return best
  }

  /** Runs until a leader exists (and has committed an entry of its term, so it can serve reads). */
  waitForLeader(limit = 50_000): SimNode {
    this.runUntil(
      () => {
        const l = this.leader()
        if (!l?.raw) return false
        const st = l.raw.status()
        return (
          st.hardState.commit >= st.lastIndex && l.raw.internals.log.term(st.hardState.commit) === l.raw.term
        )
      },
      limit,
      "a leader",
    )
    return this.leader()!
  }

  /** Proposes on the current leader (tests). */
  propose(data: Uint8Array): Proposed | ProposalDropped | { _tag: "NoLeader" } {
    const l = this.leader()
    if (!l?.raw) return { _tag: "NoLeader" }
    const r = l.raw.propose(data)
    this.scheduleReady(l)
    return r
  }

  proposeConfChange(cc: ConfChange): Proposed | ProposalDropped | InvalidConfChange | { _tag: "NoLeader" } {
    const l = this.leader()
    if (!l?.raw) return { _tag: "NoLeader" }
    const r = l.raw.proposeConfChange(cc)
    this.scheduleReady(l)
    return r
  }

  /** Lets a test act on one replica's RawNode and then schedules its Ready. */
  with<T>(id: number, fn: (node: SimNode) => T): T {
    const node = this.node(id)
    const r = fn(node)
    this.scheduleReady(node)
    return r
  }

  /** Network faults for every link: reliable or unreliable (loss, duplication, reordering). */
  setReliable(reliable: boolean): void {
    this.network.setDefaults(reliable ? reliableLink : unreliableLink)
  }

  setLinkFaults(faults: LinkFaults): void {
    this.network.setDefaults(faults)
  }

  /** Changes the snapshot policy from now on: snapshot every `every` applied entries (0: never). */
  setSnapshotPolicy(every: number, keepAfterSnapshot = this.keepAfterSnapshot): void {
    this.snapshotEvery = every
    this.keepAfterSnapshot = keepAfterSnapshot
  }

  /** Replicas that are up, in id order. */
  liveNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.up).sort((a, b) => a.id - b.id)
  }

  /** Every live replica that believes it leads (at most one per term), in id order. */
  leaders(): SimNode[] {
    return this.liveNodes().filter((n) => n.raw!.isLeader)
  }

  crashAll(): void {
    for (const n of this.nodes.values()) n.crash()
  }

  restartAll(): void {
    for (const id of this.nodes.keys()) this.restart(id)
  }

  /** Asks the current leader to hand leadership to `to`; false when there is no leader. */
  transferLeader(to: number): boolean {
    const l = this.leader()
    if (!l?.raw) return false
    const r = l.raw.transferLeader(to as ReplicaId)
    this.scheduleReady(l)
    return r === undefined
  }

  // ---------------------------------------------------------------------------------------
  // Message hooks and counts

  /**
   * Loses every message `filter` returns true for (on top of the network's faults), until
   * the returned function is called. Use it to drop one message type or one direction.
   */
  addMessageFilter(filter: MessageFilter): () => void {
    this.filters.add(filter)
    return () => this.filters.delete(filter)
  }

  /** Calls `observer` with every message sent (before filters and faults), until removed. */
  onSend(observer: MessageObserver): () => void {
    this.sendObservers.add(observer)
    return () => this.sendObservers.delete(observer)
  }

  /**
   * Calls `observer` with every message about to be stepped into its recipient (which may be
   * down). The observer may crash or restart replicas, e.g. in the middle of a snapshot transfer.
   */
  onDeliver(observer: MessageObserver): () => void {
    this.deliverObservers.add(observer)
    return () => this.deliverObservers.delete(observer)
  }

  /**
   * Calls `check` after every event, until removed: a test's own invariant (it throws to fail
   * the run, with the seed) or a probe that counts how often a situation arises.
   */
  onStep(check: () => void): () => void {
    this.stepObservers.add(check)
    return () => this.stepObservers.delete(check)
  }

  /** Messages sent so far (every type), e.g. to bound the messages of one agreement. */
  sentTotal(): number {
    let n = 0
    for (const c of this.sent.values()) n += c
    return n
  }

  // ---------------------------------------------------------------------------------------
  // Agreement

  /**
   * How many replicas (up or down) have applied `index`, and the entry applied there (every
   * replica applied the same one, or an invariant would have failed). A replica that installed
   * a snapshot covering `index` counts.
   */
  nApplied(index: Index): { readonly count: number; readonly entry: Entry | undefined } {
    let count = 0
    let entry: Entry | undefined
    for (const n of this.nodes.values()) {
      if (n.appliedThrough >= index) count++
      entry ??= n.appliedEntries.get(index)
    }
    return { count, entry }
  }

  /**
   * Gets `data` committed and applied by at least `expected` replicas, as a client would: it
   * proposes on whichever live replica leads, waits up to `attemptTime` for the entry to be
   * applied, and proposes again (maybe on a new leader) when it is not. Fails (with the seed)
   * after `limit` units of virtual time. Returns the entry's index. `data` must be unique.
   */
  agree(data: Uint8Array, expected: number, opts: { limit?: number; attemptTime?: number } = {}): Index {
    const limit = opts.limit ?? 30_000
    const attemptTime = opts.attemptTime ?? 3_000
    const end = this.now + limit
    const same = (e: Entry | undefined) =>
      e !== undefined && e.data.length === data.length && e.data.every((b, i) => b === data[i])
    while (this.now < end) {
      let index: Index | undefined
      for (const n of this.liveNodes()) {
        if (!n.raw!.isLeader) continue
        const r = n.raw!.propose(data)
        this.scheduleReady(n)
        if (r._tag === "Proposed") {
          index = r.index
          break
        }
      }
      if (index === undefined) {
        this.runFor(50)
        continue
      }
      const stop = Math.min(end, this.now + attemptTime)
      while (this.now < stop) {
        const { count, entry } = this.nApplied(index)
        if (count >= expected && same(entry)) return index
        // Another entry won the index: the proposal was lost, propose again.
        if (entry !== undefined && !same(entry)) break
        const t = this.queue.peekTime()
        if (t === undefined || t > stop) this.now = stop
        else this.step()
      }
    }
    throw new SimulationFailure(
      this.seed,
      this.now,
      new Error(
        `agreement on ${JSON.stringify(new TextDecoder().decode(data))} by ${expected} replicas failed`,
      ),
    )
  }

  /** What a live replica's state machine and log look like, for convergence checks. */
  summary(id: number): ReplicaSummary {
    const n = this.node(id)
    const raw = n.raw
    if (raw === undefined) throw new Error(`replica ${id} is down`)
    return {
      id: n.id,
      term: raw.term,
      committed: n.committed,
      applied: n.applied,
      kv: new TextDecoder().decode(n.kv.snapshot()),
    }
  }

  /**
   * Whether every live member has caught up: same commit and applied index as the leader's
   * (an entry of the leader's term committed), same state machine contents. Replicas outside
   * the configuration (removed, or not added yet) are ignored.
   */
  converged(): boolean {
    const l = this.leader()
    if (l?.raw === undefined) return false
    const st = l.raw.status()
    if (l.raw.internals.log.term(st.hardState.commit) !== l.raw.term) return false
    if (st.lastIndex !== st.hardState.commit || st.applied !== st.hardState.commit) return false
    const want = this.summary(l.id)
    const members = new Set([...st.config.incoming, ...st.config.outgoing, ...st.config.learners])
    for (const n of this.liveNodes()) {
      if (!members.has(n.id)) continue
      const s = this.summary(n.id)
      if (s.term !== want.term || s.committed !== want.committed || s.applied !== want.applied) return false
      if (s.kv !== want.kv) return false
    }
    return true
  }

  /** Runs until `converged()`; fails with every replica's summary after `limit`. */
  waitForConvergence(limit = 50_000): void {
    try {
      this.runUntil(() => this.converged(), limit, "convergence")
    } catch (e) {
      if (!(e instanceof SimulationFailure)) throw e
      const lines = this.liveNodes().map((n) => `  ${JSON.stringify(this.summary(n.id))}`)
      const what = `timed out after ${limit} waiting for convergence; live replicas:\n${lines.join("\n")}`
      throw new SimulationFailure(this.seed, this.now, new Error(what))
    }
  }

  // ---------------------------------------------------------------------------------------
  // Event handling

  private scheduleReady(node: SimNode): void {
    if (!node.up || node.readyScheduled) return
    if (node.inFlightReadies.length >= (this.options.maxReadiesInFlight ?? 1)) return
    if (!node.raw!.hasReady()) return
    node.readyScheduled = true
    const [lo, hi] = this.options.readyDelay ?? [0, 2]
    this.queue.push(this.now + this.random.int(lo, hi), { kind: "ready", id: node.id, life: node.life })
  }

  private send(msgs: readonly Message[]): void {
    for (const m of msgs) {
      const name = messageTypeName(m.type)
      this.sent.set(name, (this.sent.get(name) ?? 0) + 1)
      for (const o of this.sendObservers) o(m)
      let lost = false
      for (const f of this.filters) if (f(m)) lost = true
      if (lost) continue
      for (const latency of this.network.deliveries(m.from, m.to)) {
        this.queue.push(this.now + latency, { kind: "deliver", msg: m })
      }
    }
  }

  private handle(ev: SimEvent): void {
    switch (ev.kind) {
      case "tick": {
        const node = this.nodes.get(ev.id)
        if (node === undefined || node.life !== ev.life || !node.up) return
        node.raw!.tick()
        this.queue.push(this.now + this.tickOf.get(node.id)!, ev)
        this.scheduleReady(node)
        return
      }
      case "deliver": {
        for (const o of this.deliverObservers) o(ev.msg)
        const node = this.nodes.get(ev.msg.to)
        if (node === undefined || !node.up) return
        const err = node.raw!.step(ev.msg)
        if (err && !err.reason.includes("not a member")) {
          throw new InvariantViolation(
            "well-formed traffic",
            `replica ${node.id} refused ${messageTypeName(ev.msg.type)}: ${err.reason}`,
          )
        }
        this.scheduleReady(node)
        return
      }
      case "ready":
        this.takeReady(ev.id, ev.life)
        return
      case "persist":
        this.persistReady(ev.id, ev.life)
        return
      case "client":
        this.clientStep(ev.client, ev.gen)
        return
      case "timeout":
        this.clientTimeout(ev.client, ev.opId)
        return
      case "call":
        ev.fn()
        return
    }
  }

  private takeReady(id: ReplicaId, life: number): void {
    const node = this.nodes.get(id)
    if (node === undefined || node.life !== life || !node.up) return
    node.readyScheduled = false
    const raw = node.raw!
    if (!raw.hasReady()) return
    const rd = raw.ready()
    const log = raw.internals.log
    const termAt = (i: number) => log.term(i)
    if (rd.entries.length > 0) {
      this.invariants.logAppended(id, rd.entries, log.term(rd.entries[0]!.index - 1))
    }
    if (rd.hardState && rd.hardState.commit > node.reportedCommit) {
      this.invariants.committedTo(id, node.reportedCommit + 1, rd.hardState.commit, termAt)
      node.reportedCommit = rd.hardState.commit
    }
    if (raw.isLeader) this.invariants.leaderElected(id, raw.term, termAt, log.firstIndex())
    this.send(rd.messages)
    node.inFlightReadies.push(rd)
    const [lo, hi] = this.options.diskLatency ?? [0, 5]
    // The disk completes writes in order: a write never finishes before an earlier one.
    const done = Math.max(this.now + this.random.int(lo, hi), node.diskBusyUntil)
    node.diskBusyUntil = done
    this.queue.push(done, { kind: "persist", id, life })
    // Pipelining: the next Ready may be taken while this one is being written.
    this.scheduleReady(node)
  }

  private persistReady(id: ReplicaId, life: number): void {
    const node = this.nodes.get(id)
    if (node === undefined || node.life !== life || !node.up) return
    const rd = node.inFlightReadies.shift()
    if (rd === undefined) return
    const before = node.storage.hardStateNow().commit
    if (rd.hardState && rd.hardState.commit < before) {
      throw new InvariantViolation(
        "durable commit",
        `replica ${id} would persist commit ${rd.hardState.commit} < ${before}`,
      )
    }
    node.persist(rd)
    this.send(rd.persistedMessages)
    for (const e of rd.committedEntries) this.invariants.entryApplied(id, e)
    for (const o of node.apply(rd)) this.completeWrite(o.opId, o.ok)
    for (const rs of rd.readStates) {
      const pending = node.reads.get(contextKey(rs.requestCtx))
      if (pending) pending.index = rs.index
    }
    const raw = node.raw!
    raw.advance(rd)
    const applied = raw.status().applied
    this.serveReads(node, applied)
    node.maybeSnapshot(applied, this.snapshotEvery, this.keepAfterSnapshot)
    this.scheduleReady(node)
  }

  private serveReads(node: SimNode, applied: number): void {
    for (const [key, r] of node.reads) {
      if (r.index === undefined || r.index > applied) continue
      node.reads.delete(key)
      this.completeRead(r.opId, node.kv.get(r.key))
    }
  }

  // ---------------------------------------------------------------------------------------
  // Clients and history

  /** Starts closed-loop clients issuing puts and linearizable reads against random keys. */
  startClients(opts: ClientOptions): void {
    this.clientOpts = { keys: 5, readRatio: 0.3, opTimeout: 3_000, thinkTime: [0, 20], ...opts }
    const ids = [...this.nodes.keys()]
    for (let c = 0; c < opts.clients; c++) {
      this.clients.push({ target: ids[this.rand.intn(ids.length)]!, opId: undefined, gen: 0 })
      this.queue.push(this.now + this.random.int(0, 50), { kind: "client", client: c, gen: 0 })
    }
  }

  /** Stops issuing new operations (outstanding ones may still complete). */
  stopClients(): void {
    this.clientOpts = undefined
  }

  /**
   * Submits one put to replica `id` outside the closed-loop clients; it is recorded in the
   * history. Returns the operation id (see `operation`), or the core's refusal.
   */
  submitPut(id: number, key: string, value: string): number | ProposalDropped | { _tag: "Down" } {
    const node = this.node(id)
    const opId = this.nextOpId++
    const r = node.propose(encodeKv({ op: "put", key, value }), opId)
    this.scheduleReady(node)
    if (r._tag !== "Proposed") return r
    this.record(opId, -1, { op: "put", key, value })
    return opId
  }

  /** Submits one linearizable read (ReadIndex) to replica `id`; recorded in the history. */
  submitGet(id: number, key: string): number | undefined {
    const node = this.node(id)
    const opId = this.nextOpId++
    const accepted = node.readIndex(key, opId)
    this.scheduleReady(node)
    if (!accepted) return undefined
    this.record(opId, -1, { op: "get", key })
    return opId
  }

  /** The status of an operation recorded in the history. */
  operation(opId: number): OperationStatus | undefined {
    const op = this.ops.get(opId)
    return op && { input: op.input, state: op.state, output: op.output }
  }

  private clientStep(c: number, gen: number): void {
    const cl = this.clients[c]!
    const opts = this.clientOpts
    if (opts === undefined || cl.gen !== gen || cl.opId !== undefined) return
    const key = `k${this.rand.intn(opts.keys)}`
    const isRead = this.random.float() < opts.readRatio
    const node = this.nodes.get(cl.target)
    const opId = this.nextOpId++
    let accepted = false
    if (node?.up) {
      if (isRead) {
        accepted = node.readIndex(key, opId)
      } else {
        const value = `v${++this.valueSeq}`
        const r = node.propose(encodeKv({ op: "put", key, value }), opId)
        accepted = r._tag === "Proposed"
        if (!accepted && r._tag === "ProposalDropped" && r.leaderHint !== 0) cl.target = r.leaderHint
        if (accepted) this.record(opId, c, { op: "put", key, value })
      }
      if (accepted && isRead) this.record(opId, c, { op: "get", key })
      this.scheduleReady(node)
    }
    if (!accepted) {
      // Not accepted: nothing happened. Try the hinted leader, or another replica, soon.
      if (node === undefined || !node.up || node.raw?.leader === 0 || cl.target === node.id) {
        const ids = [...this.nodes.keys()]
        cl.target =
          node?.raw?.leader && node.raw.leader !== node.id
            ? node.raw.leader
            : ids[this.rand.intn(ids.length)]!
      }
      this.queue.push(this.now + this.random.int(10, 50), { kind: "client", client: c, gen: cl.gen })
      return
    }
    cl.opId = opId
    this.queue.push(this.now + opts.opTimeout, { kind: "timeout", client: c, opId })
  }

  private record(opId: number, client: number, input: KvInput): void {
    this.ops.set(opId, {
      client,
      input,
      invokedAt: ++this.clock,
      completedAt: Number.POSITIVE_INFINITY,
      output: undefined,
      state: "pending",
    })
  }

  private finishClientOp(opId: number): void {
    const op = this.ops.get(opId)
    if (op === undefined || op.client < 0) return
    const cl = this.clients[op.client]!
    if (cl.opId !== opId) return
    cl.opId = undefined
    cl.gen++
    const [lo, hi] = this.clientOpts?.thinkTime ?? [0, 20]
    this.queue.push(this.now + this.random.int(lo, hi), { kind: "client", client: op.client, gen: cl.gen })
  }

  private completeWrite(opId: number, ok: boolean): void {
    const op = this.ops.get(opId)
    if (op === undefined || op.state !== "pending") return
    op.state = ok ? "ok" : "failed"
    op.completedAt = ++this.clock
    op.output = { value: undefined }
    this.finishClientOp(opId)
  }

  private completeRead(opId: number, value: string | undefined): void {
    const op = this.ops.get(opId)
    if (op === undefined || op.state !== "pending") return
    op.state = "ok"
    op.completedAt = ++this.clock
    op.output = { value }
    this.finishClientOp(opId)
  }

  private clientTimeout(c: number, opId: number): void {
    const op = this.ops.get(opId)
    if (op === undefined || op.state !== "pending") return
    op.state = "unknown"
    const cl = this.clients[c]!
    const ids = [...this.nodes.keys()]
    cl.target = ids[this.rand.intn(ids.length)]!
    this.finishClientOp(opId)
  }

  /** The recorded client history (failed writes, which never took effect, are left out). */
  history(): Operation<KvInput, KvOutput>[] {
    const out: Operation<KvInput, KvOutput>[] = []
    for (const op of this.ops.values()) {
      if (op.state === "failed") continue
      if (op.input.op === "get" && op.state !== "ok") continue
      const known = op.state === "ok"
      out.push({
        client: op.client,
        input: op.input,
        output: known ? op.output : undefined,
        invokedAt: op.invokedAt,
        completedAt: known ? op.completedAt : Number.POSITIVE_INFINITY,
      })
    }
    return out
  }

  /** Counts of operations by outcome. */
  opCounts(): Record<OpRecord["state"], number> {
    const counts = { pending: 0, ok: 0, failed: 0, unknown: 0 }
    for (const op of this.ops.values()) counts[op.state]++
    return counts
  }

  /** Checks the client history for linearizability; throws (with the seed) when it is not. */
  checkLinearizable(): void {
    const h = this.history()
    const r = checkLinearizable(kvModel, h, undefined, { witness: true })
    if (r.ok === false) {
      throw new SimulationFailure(
        this.seed,
        this.now,
        new InvariantViolation("linearizability", describeFailure(r)),
      )
    }
    if (r.ok === "unknown")
      throw new SimulationFailure(
        this.seed,
        this.now,
        new Error(`linearizability check inconclusive: ${r.reason}`),
      )
  }
}
