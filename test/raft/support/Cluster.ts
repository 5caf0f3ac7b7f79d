/**
 * A hand-driven cluster of `RawNode`s for unit and datadriven tests: nothing happens unless a
 * test asks for it (tick, campaign, process a Ready, deliver messages), so each step of the
 * Ready contract can be observed. Messages leave a replica only when its Ready is processed;
 * they wait in the recipient's inbox until delivered.
 */
import { type Config, RawNode, type Ready } from "../../../src/raft/RawNode.js"
import { MemoryStorage } from "../../../src/raft/Storage.js"
import { type Entry, EntryType, type Message, type ReplicaId } from "../../../src/raft/Types.js"

export interface ClusterNode {
  readonly id: ReplicaId
  raw: RawNode
  readonly storage: MemoryStorage
  /** Entries applied, in order. */
  readonly applied: Entry[]
}

export type NodeOptions = Omit<Partial<Config>, "id" | "storage">

export class Cluster {
  readonly nodes = new Map<ReplicaId, ClusterNode>()
  /** Messages waiting for delivery, per recipient. */
  readonly inbox = new Map<ReplicaId, Message[]>()

  constructor(readonly options: NodeOptions = {}) {}

  private config(id: ReplicaId, storage: MemoryStorage, extra: NodeOptions): Config {
    return { electionTick: 10, heartbeatTick: 1, ...this.options, ...extra, id, storage }
  }

  /** Bootstraps `voters` (and `learners`) as a new group; the replicas start as followers. */
  bootstrap(voters: readonly number[], learners: readonly number[] = [], extra: NodeOptions = {}): void {
    for (const id of [...voters, ...learners]) {
      const storage = new MemoryStorage()
      const raw = RawNode.bootstrap(this.config(id as ReplicaId, storage, extra), {
        voters: voters as ReplicaId[],
        learners: learners as ReplicaId[],
      })
      if ("_tag" in raw) throw new Error(raw.reason)
      this.nodes.set(id as ReplicaId, { id: id as ReplicaId, raw, storage, applied: [] })
      // Persist the bootstrap entries, as a runtime does before anything else.
      this.processReady(id)
    }
  }

  /** Adds a replica with empty storage (it joins once a conf change adds it). */
  addEmpty(id: number, extra: NodeOptions = {}): ClusterNode {
    const storage = new MemoryStorage()
    const raw = RawNode.create(this.config(id as ReplicaId, storage, extra))
    const n = { id: id as ReplicaId, raw, storage, applied: [] }
    this.nodes.set(id as ReplicaId, n)
    return n
  }

  /** Restarts a replica from its storage (what it had not persisted is lost). */
  restart(id: number, extra: NodeOptions = {}): void {
    const n = this.node(id)
    n.raw = RawNode.create(this.config(n.id, n.storage, extra))
  }

  node(id: number): ClusterNode {
    const n = this.nodes.get(id as ReplicaId)
    if (n === undefined) throw new Error(`no replica ${id}`)
    return n
  }

  /** Persists a Ready into the replica's storage (step 2 of the contract). */
  persist(id: number, rd: Ready): void {
    const n = this.node(id)
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot)
    n.storage.append(rd.entries)
    if (rd.hardState) n.storage.setHardState(rd.hardState)
  }

  /** Queues messages for delivery. */
  send(msgs: readonly Message[]): void {
    for (const m of msgs) {
      const q = this.inbox.get(m.to) ?? []
      q.push(m)
      this.inbox.set(m.to, q)
    }
  }

  /** Handles one Ready completely: send, persist, send after persistence, apply, advance. */
  processReady(id: number): Ready | undefined {
    const n = this.node(id)
    if (!n.raw.hasReady()) return undefined
    const rd = n.raw.ready()
    this.send(rd.messages)
    this.persist(id, rd)
    this.send(rd.persistedMessages)
    for (const e of rd.committedEntries) n.applied.push(e)
    n.raw.advance(rd)
    return rd
  }

  /** Delivers (steps) the messages waiting for `id` that `keep` accepts; drops those it refuses when `dropOthers`. */
  deliver(id: number, keep: (m: Message) => boolean = () => true, dropOthers = false): Message[] {
    const q = this.inbox.get(id as ReplicaId) ?? []
    const now = q.filter(keep)
    const later = dropOthers ? [] : q.filter((m) => !keep(m))
    this.inbox.set(id as ReplicaId, later)
    const n = this.node(id)
    for (const m of now) {
      const err = n.raw.step(m)
      if (err && !err.reason.includes("not a member"))
        throw new Error(`replica ${id} refused a message: ${err.reason}`)
    }
    return now
  }

  /** Processes Readies and delivers messages until nothing moves. */
  stabilize(limit = 1_000): void {
    for (let round = 0; round < limit; round++) {
      let moved = false
      for (const id of [...this.nodes.keys()].sort((a, b) => a - b)) {
        if (this.processReady(id)) moved = true
      }
      for (const id of [...this.nodes.keys()].sort((a, b) => a - b)) {
        if (this.deliver(id).length > 0) moved = true
      }
      if (!moved) return
    }
    throw new Error("cluster did not stabilize")
  }

  /** Makes `id` campaign and win (stabilizing everything). */
  elect(id: number): void {
    this.node(id).raw.campaign()
    this.stabilize()
    if (!this.node(id).raw.isLeader) throw new Error(`${id} did not win`)
  }

  /** Normal entries applied by `id`, as text (empty entries left out). */
  appliedText(id: number): string[] {
    const dec = new TextDecoder()
    return this.node(id)
      .applied.filter((e) => e.type === EntryType.Normal && e.data.length > 0)
      .map((e) => dec.decode(e.data))
  }
}
