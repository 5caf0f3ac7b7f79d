/**
 * What a storage back end provides to the store core (`StoreCore.ts`). The core owns the
 * log's rules, group commit, checksums on read and group failures; a back end only stores
 * bytes: it applies planned operations atomically, returns raw checksummed values, and keeps
 * snapshot data in its snapshot area (files for LevelDB, a map for memory).
 *
 * This is the abstract-level pattern: the core validates and plans, then calls the back
 * end's hooks. Back ends throw only the tagged errors of `StoreErrors.ts`.
 */
import type { GroupId } from "../../raft/Ids.js"
import type { Index, Snapshot } from "../../raft/Types.js"
import type { GroupError } from "../StoreErrors.js"
import type { SnapshotRef } from "./Codec.js"
import type { GroupMeta, Op } from "./Plan.js"

/** A group found when the store was opened. */
export interface OpenedGroup {
  readonly groupId: GroupId
  readonly meta: GroupMeta
  /** Set when one of the group's records failed its check while opening: the group starts stopped. */
  readonly failed: GroupError | undefined
}

/** Raw values of consecutive entries as stored (checksums not yet checked). */
export interface RawEntries {
  /** `indexes[k]` is the index of `values[k]`; a gap means a missing record. */
  readonly indexes: readonly Index[]
  readonly values: readonly Uint8Array[]
  /** True when the read stopped early because of `maxBytes`. */
  readonly limited: boolean
}

/**
 * The storage hooks of one back end instance (one open store). `B` is the back end's batch
 * under construction: `begin` starts one, `add` encodes operations into it right away (so the
 * work overlaps the write in flight), `write` writes it as ONE atomic unit.
 */
export interface Backend<B> {
  /** Where the data lives, for error messages: a directory, or a memory disk's name. */
  readonly location: string
  /** Every group stored when the back end was opened. */
  readonly opened: ReadonlyArray<OpenedGroup>
  /** Starts an empty batch. */
  begin(): B
  /** Encodes `ops` (in order, after what the batch holds) into the batch. */
  add(batch: B, ops: ReadonlyArray<Op>): void
  /**
   * Writes the batch as ONE atomic unit; when `sync` is true it resolves only once the unit is
   * durable. Throws a store error (the core then stops the store).
   */
  write(batch: B, sync: boolean): Promise<void>
  /** Drops a batch that will never be written. */
  abandon(batch: B): void
  /**
   * Deletes every record of a group as one atomic unit. The core runs it ALONE: no batch
   * and no sweep runs at the same time.
   */
  removeGroup(groupId: GroupId, sync: boolean): Promise<void>
  /**
   * Raw values of entries `lo .. hi-1`, stopping once their total size (as counted by
   * `limitSize` in src/raft) passes `maxBytes`, but always at least one when any is stored.
   */
  readEntries(groupId: GroupId, lo: Index, hi: Index, maxBytes: number): Promise<RawEntries>
  /** The raw value of one entry, read synchronously (rare: planning compactions and snapshots). */
  readEntrySync(groupId: GroupId, index: Index): Uint8Array | undefined
  /** Writes a snapshot's data durably to the snapshot area; the record pointing to it comes later. */
  writeSnapshot(groupId: GroupId, snapshot: Snapshot): Promise<SnapshotRef>
  /** Reads the data a snapshot record points to (unchecked: the core checks size and checksum). */
  readSnapshot(groupId: GroupId, ref: SnapshotRef): Promise<Uint8Array>
  /** Removes a snapshot's data that no durable record points to any more; never throws. */
  deleteSnapshot(groupId: GroupId, file: string): Promise<void>
  /** True while entries below some group's floor still occupy space. */
  hasGarbage(): boolean
  /**
   * Deletes up to `limit` entries below floors, without syncing (a crash just leaves them).
   * May run while a batch is being written, never with `removeGroup`.
   */
  sweep(limit: number): Promise<void>
  /** Releases everything; called once, after the last write completed. */
  close(): Promise<void>
}
