/**
 * The failures of a `LogStore`. Each one says what went wrong and where (directory, group,
 * index, file) in its `message`, so a log line is enough to act on.
 *
 * Three families:
 * - store errors (`StoreLocked`, `StoreUnavailable`, `DiskFull`, `WriteFailed`, `SyncFailed`,
 *   `StoreClosed`): the whole store is affected. After a failed batch the store refuses every
 *   later call with the same error until it is reopened, because the outcome of that batch on
 *   disk is unknown (a failed fsync cannot be retried).
 * - group errors (`CorruptedEntry`, `CorruptedSnapshot`, `CorruptedMetadata`): one group's data
 *   failed its checksum. That group is STOPPED: every later call for it fails with the same
 *   error until `removeGroup` wipes it; other groups keep working.
 * - request errors (`InvalidUpdate`, `IndexCompacted`, `IndexUnavailable`): the call was refused
 *   and nothing changed.
 *
 * All are local (`Data.TaggedError`): none crosses a process boundary.
 */
import { Data } from "effect"
import type { GroupId } from "../raft/Ids.js"
import type { Index } from "../raft/Types.js"

/** Another process (or another store in this process) holds the data directory. */
export class StoreLocked extends Data.TaggedError("StoreLocked")<{ readonly dir: string }> {
  override get message(): string {
    return `storage directory ${this.dir} is locked: another process (or another store in this process) has it open`
  }
}

/** The data directory is missing, is not a directory, or cannot be written. */
export class StoreUnavailable extends Data.TaggedError("StoreUnavailable")<{
  readonly dir: string
  readonly reason: string
}> {
  override get message(): string {
    return `storage directory ${this.dir} is unavailable: ${this.reason}`
  }
}

/** The file system holding the data directory has no space left. */
export class DiskFull extends Data.TaggedError("DiskFull")<{
  readonly dir: string
  readonly detail: string
}> {
  override get message(): string {
    return `storage directory ${this.dir} is full (no space left on device): nothing of the failed write was acknowledged; free space and reopen the store (${this.detail})`
  }
}

/** A batch could not be written. Nothing in it was acknowledged. */
export class WriteFailed extends Data.TaggedError("WriteFailed")<{
  readonly dir: string
  readonly reason: string
}> {
  override get message(): string {
    return `write to storage directory ${this.dir} failed: ${this.reason}; nothing of it was acknowledged`
  }
}

/**
 * A batch was handed to the OS but its sync failed: it may or may not be on disk. The store
 * refuses every later call with this error until it is reopened.
 */
export class SyncFailed extends Data.TaggedError("SyncFailed")<{
  readonly dir: string
  readonly reason: string
}> {
  override get message(): string {
    return `sync of storage directory ${this.dir} failed: ${this.reason}; the batch was not acknowledged and may or may not be on disk; the store is stopped until it is reopened`
  }
}

/** The store was closed (its scope ended) before or while the call ran. */
export class StoreClosed extends Data.TaggedError("StoreClosed")<{ readonly dir: string }> {
  override get message(): string {
    return `storage directory ${this.dir} is closed`
  }
}

/** A log entry failed its checksum (or is missing inside the live range). The group is stopped. */
export class CorruptedEntry extends Data.TaggedError("CorruptedEntry")<{
  readonly dir: string
  readonly groupId: GroupId
  readonly index: Index
  readonly detail: string
}> {
  override get message(): string {
    return `group ${this.groupId}: log entry ${this.index} in ${this.dir} is corrupted (${this.detail}); the group is stopped, other groups keep running; remove the group and let it be re-replicated`
  }
}

/** A snapshot file is missing, truncated, or failed its checksum. The group is stopped. */
export class CorruptedSnapshot extends Data.TaggedError("CorruptedSnapshot")<{
  readonly groupId: GroupId
  readonly file: string
  readonly detail: string
}> {
  override get message(): string {
    return `group ${this.groupId}: snapshot file ${this.file} is corrupted (${this.detail}); the group is stopped, other groups keep running; remove the group and let it be re-replicated`
  }
}

/** A group's hard state, snapshot record or log floor failed its checksum. The group is stopped. */
export class CorruptedMetadata extends Data.TaggedError("CorruptedMetadata")<{
  readonly dir: string
  readonly groupId: GroupId
  readonly record: "hardState" | "snapshot" | "logFloor" | "key"
  readonly detail: string
}> {
  override get message(): string {
    return `group ${this.groupId}: ${this.record} record in ${this.dir} is corrupted (${this.detail}); the group is stopped, other groups keep running`
  }
}

/** An update the store refuses because applying it would break the log's invariants (a caller bug). */
export class InvalidUpdate extends Data.TaggedError("InvalidUpdate")<{
  readonly groupId: GroupId
  readonly reason: string
}> {
  override get message(): string {
    return `group ${this.groupId}: invalid update refused, nothing of this write was applied: ${this.reason}`
  }
}

/** The requested index is at or below the log's floor (compacted or covered by a snapshot). */
export class IndexCompacted extends Data.TaggedError("IndexCompacted")<{
  readonly groupId: GroupId
  readonly index: Index
  readonly firstIndex: Index
}> {
  override get message(): string {
    return `group ${this.groupId}: index ${this.index} is compacted (first index is ${this.firstIndex})`
  }
}

/** The requested index is beyond the log's last index. */
export class IndexUnavailable extends Data.TaggedError("IndexUnavailable")<{
  readonly groupId: GroupId
  readonly index: Index
  readonly lastIndex: Index
}> {
  override get message(): string {
    return `group ${this.groupId}: index ${this.index} is not in the log yet (last index is ${this.lastIndex})`
  }
}

/** Failures that concern the whole store. */
export type StoreError = StoreLocked | StoreUnavailable | DiskFull | WriteFailed | SyncFailed | StoreClosed

/** Failures that stop one group. */
export type GroupError = CorruptedEntry | CorruptedSnapshot | CorruptedMetadata

/** What `write` (and the methods built on it) can fail with. */
export type WriteError = StoreError | GroupError | InvalidUpdate

/** What reading a group can fail with. */
export type ReadError = StoreError | GroupError

/** What reading a range of the log can fail with. */
export type LogRangeError = ReadError | IndexCompacted | IndexUnavailable

/** True for the errors that stop one group. */
export const isGroupError = (e: unknown): e is GroupError =>
  e instanceof CorruptedEntry || e instanceof CorruptedSnapshot || e instanceof CorruptedMetadata

/** True for the errors that concern the whole store. */
export const isStoreError = (e: unknown): e is StoreError =>
  e instanceof StoreLocked ||
  e instanceof StoreUnavailable ||
  e instanceof DiskFull ||
  e instanceof WriteFailed ||
  e instanceof SyncFailed ||
  e instanceof StoreClosed
