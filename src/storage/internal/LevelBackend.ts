/**
 * The LevelDB back end: K LevelDB instances (group `g` lives in instance `g % K`), snapshot
 * files beside them. One store batch becomes ONE chained batch per instance touched, written
 * with `sync: true`; with K = 1 (the default) a whole batch is one atomic LevelDB write.
 *
 * Hot path: keys and values are encoded into two reused scratch buffers (LevelDB copies them
 * into its batch), raw binary keys, no `sublevel` option, no per-entry closures.
 *
 * Entries below a group's floor (compacted, or replaced by an installed snapshot) are deleted
 * lazily by unsynced background sweeps; losing a sweep in a crash only leaves them for later
 * (the scan at open finds them again): reads never look below the floor.
 */
import type { Level } from "level"
import type { GroupId } from "../../raft/Ids.js"
import type { Index, Snapshot } from "../../raft/Types.js"
import { CorruptedMetadata, CorruptedSnapshot, type GroupError } from "../StoreErrors.js"
import type { Backend, OpenedGroup, RawEntries } from "./Backend.js"
import {
  decodeFloor,
  decodeHardState,
  decodeSnapshotRef,
  ENTRY_KEY_BYTES,
  encodeEntryInto,
  encodeFloor,
  encodeHardStateInto,
  encodeSnapshotRef,
  entryKey,
  type Floor,
  GROUP_KEY_BYTES,
  groupKey,
  groupOfKey,
  indexOfEntryKey,
  Kind,
  Scratch,
  type SnapshotRef,
  sizeOfEntryValue,
  writeEntryKey,
  writeGroupKey,
} from "./Codec.js"
import { classifyIoError } from "./IoErrors.js"
import { emptyMeta, type GroupMeta, type Op } from "./Plan.js"
import type { SnapshotFiles } from "./SnapshotFiles.js"

/** A LevelDB instance with raw binary keys and values. */
export type Db = Level<Buffer, Buffer>

type Batch = ReturnType<Db["batch"]>
type Batches = Array<Batch | undefined>

/** A batch under construction: one chained batch per instance touched, and the floors it moves. */
export interface LevelBatch {
  readonly batches: Batches
  readonly floors: Array<readonly [GroupId, Index]>
}

/** The last possible entry key of a group. */
const lastEntryKey = (groupId: GroupId): Buffer => {
  const key = Buffer.alloc(ENTRY_KEY_BYTES, 0xff)
  key.writeUInt32BE(groupId, 0)
  key[4] = Kind.Entry
  return key
}

interface Scanned {
  hardState?: GroupMeta["hardState"]
  snapshot?: SnapshotRef
  floor?: Floor
  firstKey?: Index
  lastKey?: Index
  failed?: GroupError
}

/** Records the start-up scan reads per call. */
const SCAN_CHUNK = 1024
/** A group's entries the start-up scan reads through; a longer log is skipped with a seek. */
const SCAN_RUN_ENTRIES = 4096
/** Entry values the start-up scan keeps, in all, for the groups' loads. */
const SCAN_KEEP_BYTES = 64 * 1024 * 1024

/** Entries the start-up scan read, in key order, kept for the group's load. */
interface ScannedEntries {
  readonly indexes: Index[]
  readonly values: Buffer[]
  bytes: number
}

/** The entry run of one group under the scan. */
interface ScanRun {
  readonly groupId: GroupId
  entries: number
  kept: ScannedEntries | undefined
}

const malformedEntryKey = (dir: string, groupId: GroupId) =>
  new CorruptedMetadata({ dir, groupId, record: "key", detail: "malformed entry key" })

/** Entries `lo .. hi-1` of what the scan kept, by the rules of `readEntries`. */
const rangeOf = (kept: ScannedEntries, lo: Index, hi: Index, maxBytes: number): RawEntries => {
  const indexes: Index[] = []
  const values: Uint8Array[] = []
  let size = 0
  for (let k = 0; k < kept.indexes.length; k++) {
    const index = kept.indexes[k]!
    if (index < lo) continue
    if (index >= hi) break
    const v = kept.values[k]!
    size += sizeOfEntryValue(v)
    if (values.length > 0 && size > maxBytes) return { indexes, values, limited: true }
    indexes.push(index)
    values.push(v)
  }
  return { indexes, values, limited: false }
}

/** Last-entry lookups of the start-up scan under way at once. */
const LAST_KEY_CONCURRENCY = 16

/** Runs `f` on every item, at most `limit` at a time. */
const forEachConcurrently = async <A>(
  items: ReadonlyArray<A>,
  limit: number,
  f: (a: A) => Promise<void>,
): Promise<void> => {
  let next = 0
  const worker = async () => {
    while (next < items.length) await f(items[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}

/** The LevelDB back end of one open store. */
export class LevelBackend implements Backend<LevelBatch> {
  opened: OpenedGroup[] = []
  /** Groups whose entries at or below the recorded floor may still be stored. */
  private readonly garbage = new Map<GroupId, Index>()
  private readonly key = Buffer.allocUnsafe(ENTRY_KEY_BYTES)
  private readonly recordKey = Buffer.allocUnsafe(GROUP_KEY_BYTES)
  private readonly scratch = new Scratch()
  /** Entries the start-up scan read, until the group's first read or write. */
  private readonly scanned = new Map<GroupId, ScannedEntries>()
  private scannedBytes = 0

  constructor(
    readonly location: string,
    private readonly dbs: ReadonlyArray<Db>,
    private readonly files: SnapshotFiles,
  ) {}

  private db(groupId: GroupId): Db {
    return this.dbs.length === 1 ? this.dbs[0]! : this.dbs[groupId % this.dbs.length]!
  }

  /** The chained batch of `groupId`'s instance in `batches`, opened on first use. */
  private batchOf(batches: Batches, groupId: GroupId): Batch {
    const k = this.dbs.length === 1 ? 0 : groupId % this.dbs.length
    let b = batches[k]
    if (b === undefined) batches[k] = b = this.dbs[k]!.batch()
    return b
  }

  /** Reads every group's records; MUST run once, right after opening, before any commit. */
  async scan(): Promise<void> {
    const found = new Map<GroupId, Scanned>()
    for (const db of this.dbs) await this.scanInstance(db, found)
    const referenced = new Set<string>()
    for (const s of found.values()) if (s.snapshot !== undefined) referenced.add(s.snapshot.file)
    const present = await this.files.collect(referenced)
    for (const [groupId, s] of found) {
      const floor = s.floor ?? emptyMeta.floor
      const lastIndex = Math.max(floor.index, s.lastKey ?? 0)
      if (s.firstKey !== undefined && s.firstKey <= floor.index) this.garbage.set(groupId, floor.index)
      let failed = s.failed
      if (failed === undefined && s.snapshot !== undefined && !present.has(s.snapshot.file))
        failed = new CorruptedSnapshot({
          groupId,
          file: `${this.files.dir}/${s.snapshot.file}`,
          detail: "the file is missing",
        })
      const meta: GroupMeta = {
        hardState: s.hardState ?? emptyMeta.hardState,
        snapshot: s.snapshot,
        floor,
        lastIndex,
      }
      if (failed !== undefined) this.dropScanned(groupId)
      this.opened.push({ groupId, meta, failed })
    }
  }

  /**
   * Reads one instance's records in key order, in chunks. A group's entries (the last records
   * of a group, `Kind.Entry` being the highest kind) are read through while the run is short:
   * its first and last keys give its indexes, and the values are kept for the group's first
   * `readEntries` (its load), so a node of many small groups reads its data in one pass. A run
   * longer than `SCAN_RUN_ENTRIES` is skipped with a seek and its last index looked up
   * afterwards, all such lookups overlapping on the thread pool.
   */
  private async scanInstance(db: Db, found: Map<GroupId, Scanned>): Promise<void> {
    const lastKeys: Array<{ readonly groupId: GroupId; readonly from: Buffer; readonly s: Scanned }> = []
    const it = db.iterator()
    let run: ScanRun | undefined
    const endRun = () => {
      if (run === undefined) return
      if (run.kept !== undefined && run.kept.indexes.length > 0) this.keepScanned(run.groupId, run.kept)
      run = undefined
    }
    try {
      for (;;) {
        const chunk = await it.nextv(SCAN_CHUNK)
        if (chunk.length === 0) break
        for (const [key, value] of chunk) {
          if (key.length < GROUP_KEY_BYTES) continue
          const groupId = groupOfKey(key)
          if (run !== undefined && run.groupId !== groupId) endRun()
          let s = found.get(groupId)
          if (s === undefined) found.set(groupId, (s = {}))
          if (key[4] !== Kind.Entry) {
            this.scanRecord(groupId, s, key, value)
            continue
          }
          if (s.failed !== undefined) continue
          const index = indexOfEntryKey(key)
          if (index < 0) {
            s.firstKey = undefined
            s.lastKey = undefined
            s.failed = malformedEntryKey(this.location, groupId)
            if (run?.groupId === groupId) run.kept = undefined
            continue
          }
          if (run === undefined) {
            run = { groupId, entries: 0, kept: { indexes: [], values: [], bytes: 0 } }
            s.firstKey = index
          }
          s.lastKey = index
          run.entries++
          // Entries at or below the floor are garbage that reads never see: not kept.
          if (run.kept !== undefined && index > (s.floor?.index ?? 0)) {
            run.kept.indexes.push(index)
            run.kept.values.push(value)
            run.kept.bytes += value.length
            if (this.scannedBytes + run.kept.bytes > SCAN_KEEP_BYTES) run.kept = undefined
          }
          if (run.entries >= SCAN_RUN_ENTRIES) {
            // A long log: skip the rest of it (this chunk's remaining records are stale after
            // the seek) and look its last index up afterwards.
            s.lastKey = undefined
            lastKeys.push({ groupId, from: Buffer.from(key), s })
            run = undefined
            it.seek(groupKey(groupId, Kind.Entry + 1))
            break
          }
        }
      }
      endRun()
    } finally {
      await it.close()
    }
    await forEachConcurrently(lastKeys, LAST_KEY_CONCURRENCY, async ({ groupId, from, s }) => {
      const [last] = await db.keys({ gte: from, lte: lastEntryKey(groupId), reverse: true, limit: 1 }).all()
      const lastIndex = last === undefined ? -1 : indexOfEntryKey(last)
      if (lastIndex < 0) {
        s.firstKey = undefined
        s.failed ??= malformedEntryKey(this.location, groupId)
      } else s.lastKey = lastIndex
    })
  }

  /** Keeps a group's entries read by the scan for its first `readEntries`. */
  private keepScanned(groupId: GroupId, kept: ScannedEntries): void {
    this.scanned.set(groupId, kept)
    this.scannedBytes += kept.bytes
  }

  /** Forgets what the scan kept of `groupId` (a write or a read made it stale or used it). */
  private dropScanned(groupId: GroupId): ScannedEntries | undefined {
    const kept = this.scanned.get(groupId)
    if (kept === undefined) return undefined
    this.scanned.delete(groupId)
    this.scannedBytes -= kept.bytes
    return kept
  }

  /** One metadata record of a group, found by the scan. */
  private scanRecord(groupId: GroupId, s: Scanned, key: Buffer, value: Buffer): void {
    const corrupt = (record: CorruptedMetadata["record"], detail: string) => {
      s.failed ??= new CorruptedMetadata({ dir: this.location, groupId, record, detail })
    }
    switch (key[4]) {
      case Kind.HardState: {
        const hs = decodeHardState(key, value)
        if (hs === undefined) corrupt("hardState", "checksum mismatch")
        else s.hardState = hs
        break
      }
      case Kind.Snapshot: {
        const ref = decodeSnapshotRef(key, value)
        if (ref === undefined) corrupt("snapshot", "checksum mismatch")
        else s.snapshot = ref
        break
      }
      case Kind.Floor: {
        const floor = decodeFloor(key, value)
        if (floor === undefined) corrupt("logFloor", "checksum mismatch")
        else s.floor = floor
        break
      }
      default:
        corrupt("key", `unknown record kind ${key[4]}`)
    }
  }

  begin(): LevelBatch {
    return { batches: new Array(this.dbs.length), floors: [] }
  }

  add(batch: LevelBatch, ops: ReadonlyArray<Op>): void {
    const key = this.key
    if (this.scanned.size > 0) for (const op of ops) this.dropScanned(op.groupId)
    for (const op of ops) {
      const b = this.batchOf(batch.batches, op.groupId)
      switch (op._tag) {
        case "PutEntries": {
          for (const e of op.entries) {
            writeEntryKey(key, op.groupId, e.index)
            b.put(key, encodeEntryInto(this.scratch, key, e))
          }
          break
        }
        case "DeleteEntries":
          for (let i = op.from; i <= op.to; i++) b.del(writeEntryKey(key, op.groupId, i))
          break
        case "PutHardState": {
          const k = writeGroupKey(this.recordKey, op.groupId, Kind.HardState)
          b.put(k, encodeHardStateInto(this.scratch, k, op.hardState))
          break
        }
        case "PutSnapshot": {
          const k = groupKey(op.groupId, Kind.Snapshot)
          b.put(k, encodeSnapshotRef(k, op.ref))
          break
        }
        case "PutFloor": {
          const k = groupKey(op.groupId, Kind.Floor)
          b.put(k, encodeFloor(k, op.floor))
          batch.floors.push([op.groupId, op.floor.index])
          break
        }
      }
    }
  }

  async write(batch: LevelBatch, sync: boolean): Promise<void> {
    const options = { sync }
    try {
      if (this.dbs.length === 1) await batch.batches[0]?.write(options)
      else await Promise.all(batch.batches.map((b) => b?.write(options)))
    } catch (e) {
      this.abandon(batch)
      throw classifyIoError(this.location, e, "write")
    }
    for (const [g, floor] of batch.floors) this.garbage.set(g, floor)
  }

  abandon(batch: LevelBatch): void {
    for (const b of batch.batches) b?.close().catch(() => {})
  }

  async removeGroup(groupId: GroupId, sync: boolean): Promise<void> {
    this.dropScanned(groupId)
    try {
      const db = this.db(groupId)
      const keys = await db.keys({ gte: groupKey(groupId, 0), lt: groupKey(groupId, 0xff) }).all()
      const b = db.batch()
      for (const k of keys) b.del(k)
      await b.write({ sync })
    } catch (e) {
      throw classifyIoError(this.location, e, "write")
    }
    this.garbage.delete(groupId)
  }

  hasGarbage(): boolean {
    return this.garbage.size > 0
  }

  async sweep(limit: number): Promise<void> {
    const batches: Batches = new Array(this.dbs.length)
    const done: Array<readonly [GroupId, Index]> = []
    try {
      let left = limit
      for (const [groupId, floor] of this.garbage) {
        if (left <= 0) break
        const keys = await this.db(groupId)
          .keys({ gte: entryKey(groupId, 0), lte: entryKey(groupId, floor), limit: left })
          .all()
        if (keys.length > 0) {
          const b = this.batchOf(batches, groupId)
          for (const k of keys) b.del(k)
        }
        left -= keys.length
        if (left > 0) done.push([groupId, floor])
      }
      await Promise.all(batches.map((b) => b?.write({ sync: false })))
    } catch (e) {
      for (const b of batches) b?.close().catch(() => {})
      throw classifyIoError(this.location, e, "write")
    }
    // A group is clean once everything up to the floor it was swept for is gone, unless a batch
    // written meanwhile moved its floor up.
    for (const [g, floor] of done) if (this.garbage.get(g) === floor) this.garbage.delete(g)
  }

  async readEntries(groupId: GroupId, lo: Index, hi: Index, maxBytes: number): Promise<RawEntries> {
    const kept = this.dropScanned(groupId)
    if (kept !== undefined) return rangeOf(kept, lo, hi, maxBytes)
    const indexes: Index[] = []
    const values: Uint8Array[] = []
    const it = this.db(groupId).iterator({ gte: entryKey(groupId, lo), lt: entryKey(groupId, hi) })
    let limited = false
    try {
      let size = 0
      outer: for (;;) {
        const chunk = await it.nextv(maxBytes === Infinity ? 1024 : 64)
        if (chunk.length === 0) break
        for (const [k, v] of chunk) {
          size += sizeOfEntryValue(v)
          if (values.length > 0 && size > maxBytes) {
            limited = true
            break outer
          }
          indexes.push(indexOfEntryKey(k))
          values.push(v)
        }
      }
    } catch (e) {
      throw classifyIoError(this.location, e, "read")
    } finally {
      await it.close()
    }
    return { indexes, values, limited }
  }

  readEntrySync(groupId: GroupId, index: Index): Uint8Array | undefined {
    try {
      return this.db(groupId).getSync(entryKey(groupId, index))
    } catch (e) {
      throw classifyIoError(this.location, e, "read")
    }
  }

  writeSnapshot(groupId: GroupId, snapshot: Snapshot): Promise<SnapshotRef> {
    return this.files.write(groupId, snapshot)
  }

  readSnapshot(groupId: GroupId, ref: SnapshotRef): Promise<Uint8Array> {
    return this.files.read(groupId, ref)
  }

  deleteSnapshot(_groupId: GroupId, file: string): Promise<void> {
    return this.files.remove(file)
  }

  async close(): Promise<void> {
    await Promise.all(this.dbs.map((db) => db.close()))
  }
}
