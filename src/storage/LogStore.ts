/**
 * `LogStore`: the durable home of every Raft group's log on one node. It holds, per group, the
 * hard state, the entries, the log floor (index and term just before the first entry held) and
 * the latest snapshot; thousands of groups share one store so that one synced batch carries
 * the writes of a whole engine round.
 *
 * How the node runtime uses it: each replica keeps a `MemoryStorage` (src/raft) as the
 * synchronous mirror the Raft core reads; each engine round calls `write` ONCE with every
 * replica's `Ready` (snapshot to install, entries, hard state), and only after it succeeds
 * sends the messages that depend on them; at startup it calls `groups` and `load` for each and
 * rebuilds the mirrors with `Restore.toMemoryStorage`.
 *
 * CONTRACTS
 * - A caller MUST NOT treat an update as durable before `write` succeeds. When `write` fails,
 *   NOTHING of that call was acknowledged; it may or may not be on disk, and the store reads
 *   back the truth after a reopen.
 * - One `write` call is atomic for each group it touches, always; with one LevelDB instance
 *   (the default) it is atomic as a whole.
 * - Concurrent `write` calls are coalesced into one synced batch (group commit). Calls for the
 *   same group are applied in the order they were made. A caller MUST NOT change the updates
 *   (or their entries' data) it passed until its `write` has completed.
 * - A group whose data fails a checksum is STOPPED: every later call for it fails with the same
 *   error, and a `write` that carries an update for it fails as a whole (nothing of it is
 *   applied). The caller MUST drop that replica and retry the others; `removeGroup` wipes the
 *   group so it can be re-created and re-replicated. Other groups keep working.
 * - After a failed batch (write error, failed sync, full disk) the whole store is STOPPED: every
 *   later call fails with that error until the store is closed and reopened.
 *
 * Layers: `layerMemory` (a fresh in-memory store), `layerLevel(dir, options)` (LevelDB); see
 * `MemoryLogStore` for a memory store that survives simulated crashes, and `FaultyLogStore`
 * for the fault-injecting variants. Every layer is scoped: the store closes with its scope.
 */
import { Context, Effect, Layer, type Option } from "effect"
import type { GroupId } from "../raft/Ids.js"
import type { Entry, HardState, Index, Snapshot, Term } from "../raft/Types.js"
import * as LevelLogStore from "./LevelLogStore.js"
import * as MemoryLogStore from "./MemoryLogStore.js"
import type { LogRangeError, ReadError, StoreError, WriteError } from "./StoreErrors.js"

/**
 * What one group persists in one round. The parts apply in this order: `snapshot`, `entries`,
 * `hardState`, `savedSnapshot`, `compactTo` (the order of a Raft `Ready` followed by the
 * application's snapshot and compaction).
 */
export interface GroupUpdate {
  readonly groupId: GroupId
  /**
   * A snapshot received from the leader: replaces the whole log up to its index (the log
   * becomes empty at that point, the floor moves to it). MUST be newer than the stored one.
   */
  readonly snapshot?: Snapshot | undefined
  /**
   * Entries to append, contiguous. Entries at or below the floor are skipped; from the first
   * remaining one on, any existing entries are replaced and the log ends with the last one
   * (a conflicting suffix is deleted). MUST NOT leave a gap after the last index and MUST NOT
   * start at or below the latest snapshot's index.
   */
  readonly entries?: ReadonlyArray<Entry> | undefined
  /** The new hard state. */
  readonly hardState?: HardState | undefined
  /**
   * A snapshot of this replica's own state machine, taken at an index already in the log
   * (its term MUST match the log's); entries are kept until `compactTo` discards them.
   */
  readonly savedSnapshot?: Snapshot | undefined
  /**
   * Discards entries up to and including this index (it becomes the floor). MUST NOT exceed
   * the latest snapshot's index; at or below the current floor it does nothing.
   */
  readonly compactTo?: Index | undefined
}

/** Options of `LogStoreService.write`. */
export interface WriteOptions {
  /** fsync before succeeding (default true). Snapshots are always synced. */
  readonly sync?: boolean
}

/** Everything needed to rebuild a group's in-memory log (see `Restore.toMemoryStorage`). */
export interface LoadedGroup {
  readonly groupId: GroupId
  readonly hardState: HardState
  /** The latest snapshot with its data (checked), or undefined when there is none. */
  readonly snapshot: Snapshot | undefined
  /** First index held (floor + 1). */
  readonly firstIndex: Index
  /** Last index held (the floor when the log is empty). */
  readonly lastIndex: Index
  /** Term of entry `firstIndex - 1` (the floor). */
  readonly floorTerm: Term
  /** Entries `firstIndex .. lastIndex`. */
  readonly entries: ReadonlyArray<Entry>
}

/** Counters of an open store, for tests and benchmarks. */
export interface StoreStats {
  /** Batches written (synced) successfully. */
  readonly batches: number
  /** Batches that failed. */
  readonly failedBatches: number
  /** `write` calls (and removals) acknowledged as durable. */
  readonly requests: number
  /** Group updates acknowledged. */
  readonly updates: number
  /** Entries acknowledged. */
  readonly entries: number
  /** Calls waiting for the next batch now. */
  readonly queued: number
  /** Batches being written now. */
  readonly inFlight: number
  /** Groups with anything stored. */
  readonly groups: number
}

/** The store's operations. Every method is safe to call concurrently. */
export interface LogStoreService {
  /** Where the data lives: the directory (or the memory disk's name). */
  readonly location: string
  /**
   * Persists every update as one atomic, synced batch (shared with concurrent callers);
   * succeeds only once all of it is durable. See the contracts above. With `sync: false` it
   * succeeds once written without fsync (survives the process, not the machine): for state
   * Raft can recover, such as a commit index alone (a Ready with `mustSync` false).
   */
  readonly write: (
    updates: ReadonlyArray<GroupUpdate>,
    options?: WriteOptions,
  ) => Effect.Effect<void, WriteError>
  /** Groups with anything stored (stopped ones included), ascending. */
  readonly groups: Effect.Effect<ReadonlyArray<GroupId>, StoreError>
  /** Everything needed to rebuild the group's log; an empty log for a group never written. */
  readonly load: (groupId: GroupId) => Effect.Effect<LoadedGroup, ReadError>
  /** The stored hard state. */
  readonly hardState: (groupId: GroupId) => Effect.Effect<HardState, ReadError>
  /**
   * Entries `lo .. hi-1`, at most `maxBytes` in total (as `limitSize` in src/raft counts) but
   * at least one. Fails with `IndexCompacted` when `lo` is at or below the floor and with
   * `IndexUnavailable` when `hi - 1` is beyond the last index.
   */
  readonly entries: (
    groupId: GroupId,
    lo: Index,
    hi: Index,
    maxBytes?: number,
  ) => Effect.Effect<ReadonlyArray<Entry>, LogRangeError>
  /** The term of entry `index`; `firstIndex - 1` answers the floor's term. */
  readonly term: (groupId: GroupId, index: Index) => Effect.Effect<Term, LogRangeError>
  /** The first index held (floor + 1). */
  readonly firstIndex: (groupId: GroupId) => Effect.Effect<Index, ReadError>
  /** The last index held (the floor when the log is empty). */
  readonly lastIndex: (groupId: GroupId) => Effect.Effect<Index, ReadError>
  /** `write([{ groupId, savedSnapshot: snapshot }])`. */
  readonly saveSnapshot: (groupId: GroupId, snapshot: Snapshot) => Effect.Effect<void, WriteError>
  /** The latest snapshot with its data, checked against its checksum. */
  readonly loadSnapshot: (groupId: GroupId) => Effect.Effect<Option.Option<Snapshot>, ReadError>
  /** `write([{ groupId, compactTo: index }])`. */
  readonly compact: (groupId: GroupId, index: Index) => Effect.Effect<void, WriteError>
  /**
   * Deletes every record and the snapshot data of the group, durably; a stopped group is
   * wiped and may be written again. Removing a group never written does nothing.
   */
  readonly removeGroup: (groupId: GroupId) => Effect.Effect<void, StoreError>
  /** Counters since the store was opened. */
  readonly stats: Effect.Effect<StoreStats>
}

/** The node's log store. */
export class LogStore extends Context.Tag("flotilla/storage/LogStore")<LogStore, LogStoreService>() {}

/** A fresh in-memory store (nothing survives the scope). */
export const layerMemory: Layer.Layer<LogStore> = Layer.scoped(LogStore, Effect.orDie(MemoryLogStore.make()))

/**
 * A LevelDB store in `dir` (created when missing unless `createIfMissing: false`; its parent
 * must exist). The directory is locked while the layer's scope is open.
 */
export const layerLevel = (
  dir: string,
  options?: LevelLogStore.LevelOptions,
): Layer.Layer<LogStore, StoreError> => Layer.scoped(LogStore, LevelLogStore.make(dir, options))
