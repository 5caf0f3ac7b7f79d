/**
 * One simulated replica: a `RawNode`, its stable storage (a `MemoryStorage` that receives only
 * what a Ready persisted, so a crash keeps exactly that), and its volatile state machine.
 * The simulator drives it through the Ready contract in two steps (see `Simulator`).
 */
import type { ProposalDropped, Proposed } from "../raft/Errors.js"
import { seededRand } from "../raft/Rand.js"
import { type Config, RawNode, type Ready } from "../raft/RawNode.js"
import { contextKey } from "../raft/ReadOnly.js"
import { MemoryStorage } from "../raft/Storage.js"
import { type Entry, EntryType, type Index, type ReplicaId } from "../raft/Types.js"
import type { GroupUpdate } from "../storage/LogStore.js"
import { KvModel } from "./KvModel.js"

/** A client operation waiting on this replica. */
export interface PendingProposal {
  readonly term: number
  readonly opId: number
}

export interface PendingRead {
  readonly opId: number
  readonly key: string
  /** Set once the ReadIndex answer arrived: serve when applied reaches it. */
  index: Index | undefined
}

export type RaftOverrides = Omit<Partial<Config>, "id" | "storage" | "rand">

/**
 * What one replica made durable in one step, in `LogStore` terms: a Ready's snapshot, entries
 * and hard state, or a snapshot of its own state machine and the compaction after it.
 */
export type PersistedUpdate = Omit<GroupUpdate, "groupId">

export class SimNode {
  raw: RawNode | undefined = undefined
  kv = new KvModel()
  /** Stable storage; replaced only while the replica is down (`replaceStorage`). */
  storage = new MemoryStorage()
  /** Told of every durable change to `storage`, in order (`Simulator.onPersist`). */
  onPersisted: ((update: PersistedUpdate) => void) | undefined = undefined
  /** Readies taken but not yet persisted and advanced, oldest first. */
  readonly inFlightReadies: Ready[] = []
  /** Virtual time at which the disk finishes the writes issued so far. */
  diskBusyUntil = 0
  readyScheduled = false
  /** Incremented on every crash: events scheduled for an earlier life are ignored. */
  life = 0
  readonly proposals = new Map<Index, PendingProposal>()
  readonly reads = new Map<string, PendingRead>()
  lastSnapshotIndex: Index = 0
  /** Commit index already reported to the invariants. */
  reportedCommit: Index = 0
  /**
   * Every entry this replica's state machine applied, by index, over all its lives (a restart
   * re-applies the same entries: state machine safety). Entries covered by an installed
   * snapshot are absent; `appliedThrough` counts them.
   */
  readonly appliedEntries = new Map<Index, Entry>()
  /** The highest index this replica's state machine ever reached (entries or snapshot). */
  appliedThrough: Index = 0
  /** Snapshots received from a leader and installed (over all lives). */
  snapshotsInstalled = 0

  constructor(
    readonly id: ReplicaId,
    private readonly seed: number,
    private readonly overrides: RaftOverrides,
  ) {}

  get up(): boolean {
    return this.raw !== undefined
  }

  private config(): Config {
    return {
      electionTick: 10,
      heartbeatTick: 1,
      ...this.overrides,
      id: this.id,
      storage: this.storage,
      rand: seededRand(
        (this.seed ^ Math.imul(this.id, 0x9e3779b1) ^ Math.imul(this.life + 1, 0x85ebca6b)) >>> 0,
      ),
    }
  }

  /** Starts (or restarts) the replica from its stable storage. */
  start(): void {
    this.raw = RawNode.create(this.config())
    this.restoreStateMachine()
  }

  /** Starts a replica of a brand-new group with the given initial members. */
  bootstrap(voters: readonly ReplicaId[], learners: readonly ReplicaId[] = []): void {
    const r = RawNode.bootstrap(this.config(), { voters, learners })
    if ("_tag" in r) throw new Error(`bootstrap of ${this.id} failed: ${r.reason}`)
    this.raw = r
  }

  private restoreStateMachine(): void {
    const snap = this.storage.snapshot()
    const data = "_tag" in snap ? new Uint8Array(0) : snap.data
    this.kv = KvModel.restore(data)
    this.lastSnapshotIndex = "_tag" in snap ? 0 : snap.metadata.index
    this.reportedCommit = this.storage.hardStateNow().commit
  }

  /** Loses everything volatile: the core, unpersisted entries, the state machine, waiters. */
  crash(): void {
    this.raw = undefined
    this.inFlightReadies.length = 0
    this.readyScheduled = false
    this.life++
    this.proposals.clear()
    this.reads.clear()
  }

  /** Persists a Ready's snapshot, entries and hard state (step 2 of the contract). */
  persist(rd: Ready): void {
    if (rd.snapshot) {
      this.storage.applySnapshot(rd.snapshot)
      this.kv = KvModel.restore(rd.snapshot.data)
      this.lastSnapshotIndex = rd.snapshot.metadata.index
      if (rd.snapshot.metadata.index > this.appliedThrough) this.appliedThrough = rd.snapshot.metadata.index
      this.snapshotsInstalled++
    }
    this.storage.append(rd.entries)
    if (rd.hardState) this.storage.setHardState(rd.hardState)
    this.onPersisted?.({ snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState })
  }

  /**
   * Restarts from other stable storage (a store's reloaded copy of this replica's log, say):
   * only while down.
   */
  replaceStorage(storage: MemoryStorage): void {
    if (this.up) throw new Error(`replica ${this.id} is up: crash it before replacing its storage`)
    this.storage = storage
  }

  /** Applies committed entries; returns what each pending proposal learned. */
  apply(rd: Ready): { opId: number; ok: boolean }[] {
    const outcomes: { opId: number; ok: boolean }[] = []
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.Normal) this.kv.apply(e.data)
      this.appliedEntries.set(e.index, e)
      if (e.index > this.appliedThrough) this.appliedThrough = e.index
      const p = this.proposals.get(e.index)
      if (p) {
        this.proposals.delete(e.index)
        outcomes.push({ opId: p.opId, ok: p.term === e.term })
      }
    }
    return outcomes
  }

  /** The index the live state machine has applied (0 while down). */
  get applied(): Index {
    return this.raw?.internals.log.applied ?? 0
  }

  /** The commit index of the live core (0 while down). */
  get committed(): Index {
    return this.raw?.internals.log.committed ?? 0
  }

  /** Takes a snapshot and compacts the log when `every` entries were applied since the last. */
  maybeSnapshot(applied: Index, every: number, keep: number): void {
    if (every <= 0 || applied - this.lastSnapshotIndex < every || this.raw === undefined) return
    const r = this.storage.createSnapshot(applied, this.raw.confState(), this.kv.snapshot())
    if (typeof r !== "object" || "_tag" in r) return
    this.lastSnapshotIndex = applied
    const compactTo = applied - keep
    const compacts = compactTo > this.storage.firstIndex()
    if (compacts) this.storage.compact(compactTo)
    this.onPersisted?.({ savedSnapshot: r, compactTo: compacts ? compactTo : undefined })
  }

  propose(data: Uint8Array, opId: number): Proposed | ProposalDropped | { _tag: "Down" } {
    if (this.raw === undefined) return { _tag: "Down" }
    const r = this.raw.propose(data)
    if (r._tag === "Proposed") this.proposals.set(r.index, { term: r.term, opId })
    return r
  }

  readIndex(key: string, opId: number): boolean {
    if (this.raw === undefined) return false
    const ctx = new TextEncoder().encode(`r${opId}`)
    if (this.raw.readIndex(ctx) !== undefined) return false
    this.reads.set(contextKey(ctx), { opId, key, index: undefined })
    return true
  }
}
