/**
 * The contract of a log store (`LogStoreService`) and the values it takes and gives. The
 * contracts the implementations must keep are written on `LogStore` (LogStore.ts), which
 * re-exports everything here; the stores (LevelLogStore, MemoryLogStore) import this module.
 */
import type { Effect, Option } from "effect"
import type { GroupId } from "../raft/Ids.js"
import type { Entry, HardState, Index, Snapshot, Term } from "../raft/Types.js"
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
