/**
 * The Raft core's synchronous view of one replica's log on a node: a `MemoryStorage` mirror of
 * what the durable `LogStore` holds (kept in step by the engine after each successful write),
 * with the snapshot's data held only while it is needed.
 *
 * A leader that must send a snapshot asks `snapshot()`; when the data is not in memory the
 * answer is "temporarily unavailable" (the core retries on a later heartbeat) and
 * `loadWanted` tells the engine to read it from the store. Loaded or freshly made data stays
 * cached until `expireCache` drops it, so idle groups do not hold their state twice.
 */

import { decodeConfChange } from "../raft/ConfChange.js"
import { SNAPSHOT_TEMPORARILY_UNAVAILABLE, type SnapshotTemporarilyUnavailable } from "../raft/Errors.js"
import { type NodeId, nodeOfReplica } from "../raft/Ids.js"
import type { InitialState, MemoryStorage, Storage } from "../raft/Storage.js"
import { EntryType, type Index, type ReplicaId, type Snapshot } from "../raft/Types.js"

export class ReplicaStorage implements Storage {
  private cache: { readonly index: Index; readonly data: Uint8Array; untilMs: number } | undefined
  /** Set when the core asked for snapshot data that is not cached. */
  loadWanted = false

  constructor(readonly mem: MemoryStorage) {}

  initialState(): InitialState {
    return this.mem.initialState()
  }

  entries(lo: Index, hi: Index, maxBytes: number) {
    return this.mem.entries(lo, hi, maxBytes)
  }

  term(i: Index) {
    return this.mem.term(i)
  }

  firstIndex(): Index {
    return this.mem.firstIndex()
  }

  lastIndex(): Index {
    return this.mem.lastIndex()
  }

  snapshot(): Snapshot | SnapshotTemporarilyUnavailable {
    const s = this.mem.snapshot()
    if ("_tag" in s || s.metadata.index === 0) return s
    if (this.cache?.index === s.metadata.index) return { metadata: s.metadata, data: this.cache.data }
    this.loadWanted = true
    return SNAPSHOT_TEMPORARILY_UNAVAILABLE
  }

  /** The index of the latest snapshot (0 when none). */
  snapshotIndex(): Index {
    const s = this.mem.snapshot()
    return "_tag" in s ? 0 : s.metadata.index
  }

  /** Keeps `data` of the snapshot at `index` in memory until `untilMs`. */
  cacheData(index: Index, data: Uint8Array, untilMs: number): void {
    this.cache = { index, data, untilMs }
    this.loadWanted = false
  }

  /** Drops cached data whose time is up. */
  expireCache(nowMs: number): void {
    if (this.cache !== undefined && this.cache.untilMs <= nowMs) this.cache = undefined
  }
}

/**
 * The id of this node's replica in a stored group: among the replicas the stored
 * configuration (snapshot) and conf-change entries name, the one hosted on `node` with the
 * highest generation. Undefined when the stored state names none (nothing to restart).
 */
export const ownReplicaId = (mem: MemoryStorage, node: NodeId): ReplicaId | undefined => {
  let best: ReplicaId | undefined
  const consider = (id: ReplicaId) => {
    if (nodeOfReplica(id) === node && (best === undefined || id > best)) best = id
  }
  const cs = mem.initialState().confState
  for (const list of [cs.voters, cs.votersOutgoing, cs.learners, cs.learnersNext])
    for (const id of list) consider(id)
  for (const e of mem.allEntries()) {
    if (e.type !== EntryType.ConfChange) continue
    for (const c of decodeConfChange(e.data)?.changes ?? []) consider(c.nodeId)
  }
  return best
}
