/**
 * A deterministic simulator of whole Raft clusters, for Flotilla's tests and for users'
 * fault-injection suites.
 *
 * Everything is driven by one seeded generator and a virtual-time event queue: ticks (each
 * replica's clock drifts a little), message deliveries (latency, loss, duplication and
 * reordering from `SimNetwork`), Ready processing and client operations. A Ready is handled
 * in two events, as a real node does: (1) take it and send the leader's messages, (2) after a
 * disk latency persist it, send the messages that waited for persistence, apply, advance. A
 * crash can land between the two: storage then keeps only what was persisted.
 *
 * Safety invariants are checked as the run goes (`Invariants`); client histories can be
 * checked for linearizability at the end. Every failure names the seed; the same seed and
 * the same test code replay the run event for event.
 */
import type { ConfChange } from "../raft/ConfChange.js"
import type { InvalidConfChange, ProposalDropped, Proposed } from "../raft/Errors.js"
import { seededRand } from "../raft/Rand.js"
import { contextKey } from "../raft/ReadOnly.js"
import { type Message, messageTypeName, type ReplicaId } from "../raft/Types.js"
import { EventQueue } from "./EventQueue.js"
import { Invariants, InvariantViolation } from "./Invariants.js"
import { encodeKv } from "./KvModel.js"
import {
  checkLinearizable,
  describeHistory,
  type KvInput,
  type KvOutput,
  kvModel,
  type Operation,
} from "./Linearizability.js"
import { type LinkFaults, type RandomSource, reliableLink, SimNetwork, unreliableLink } from "./SimNetwork.js"
import { type RaftOverrides, SimNode } from "./SimNode.js"

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
  /** Disk write latency; default [0, 5]. */
  readonly diskLatency?: readonly [number, number]
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

interface OpRecord {
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

  constructor(readonly options: SimOptions) {
    this.seed = options.seed
    this.rand = seededRand(options.seed)
    this.random = {
      float: () => this.rand.next() / 0x100000000,
      int: (lo, hi) => lo + this.rand.intn(hi - lo + 1),
    }
    this.network = new SimNetwork(this.random)
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
    this.now = ev.at
    try {
      this.handle(ev.event)
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

  /** Restarts a crashed replica from its storage. */
  restart(id: number): void {
    const node = this.node(id)
    if (node.up) return
    node.start()
    this.startTicking(node)
    this.scheduleReady(node)
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

  // ---------------------------------------------------------------------------------------
  // Event handling

  private scheduleReady(node: SimNode): void {
    if (!node.up || node.readyScheduled || node.inFlightReady !== undefined) return
    if (!node.raw!.hasReady()) return
    node.readyScheduled = true
    const [lo, hi] = this.options.readyDelay ?? [0, 2]
    this.queue.push(this.now + this.random.int(lo, hi), { kind: "ready", id: node.id, life: node.life })
  }

  private send(msgs: readonly Message[]): void {
    for (const m of msgs) {
      const name = messageTypeName(m.type)
      this.sent.set(name, (this.sent.get(name) ?? 0) + 1)
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
    node.inFlightReady = rd
    const [lo, hi] = this.options.diskLatency ?? [0, 5]
    this.queue.push(this.now + this.random.int(lo, hi), { kind: "persist", id, life })
  }

  private persistReady(id: ReplicaId, life: number): void {
    const node = this.nodes.get(id)
    if (node === undefined || node.life !== life || !node.up || node.inFlightReady === undefined) return
    const rd = node.inFlightReady
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
    node.inFlightReady = undefined
    const applied = raw.status().applied
    this.serveReads(node, applied)
    node.maybeSnapshot(applied, this.options.snapshotEvery ?? 0, this.options.keepAfterSnapshot ?? 5)
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
    if (op === undefined) return
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
    const r = checkLinearizable(kvModel, h)
    if (r.ok === false) {
      throw new SimulationFailure(
        this.seed,
        this.now,
        new InvariantViolation("linearizability", `${r.reason}\n${describeHistory(r.part)}`),
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
