/**
 * The core of a log store, shared by every back end (promise-based, as LevelDB is; the
 * Effect service over it is StoreService.ts): it takes write calls (writing their snapshot data
 * first, then handing them to the group-commit `Writer`), serves reads from the back end with
 * checksum checks, stops groups whose data is corrupted, and closes in order.
 *
 * Per-group state lives in the `GroupTable`; batching and durability rules in `Writer.ts`.
 */
import type { GroupId } from "../../raft/Ids.js"
import { limitSize } from "../../raft/Storage.js"
import type { Entry, HardState, Index, Snapshot, Term } from "../../raft/Types.js"
import {
  CorruptedSnapshot,
  IndexCompacted,
  IndexUnavailable,
  isGroupError,
  isStoreError,
  type StoreError,
  type WriteError,
} from "../StoreErrors.js"
import type { Backend } from "./Backend.js"
import { dataCrc, decodeEntry, entryKey, type SnapshotRef } from "./Codec.js"
import type { FaultPlan } from "./FaultPlan.js"
import { GroupTable } from "./GroupTable.js"
import { emptyMeta, type GroupMeta, type PreparedUpdate } from "./Plan.js"
import { type Done, request, Writer } from "./Writer.js"

/** One group's update as callers give it (see `LogStore.GroupUpdate`). */
export interface UpdateInput {
  readonly groupId: GroupId
  readonly snapshot?: Snapshot | undefined
  readonly entries?: ReadonlyArray<Entry> | undefined
  readonly hardState?: HardState | undefined
  readonly savedSnapshot?: Snapshot | undefined
  readonly compactTo?: Index | undefined
}

/** Everything needed to rebuild a group's in-memory log. */
export interface Loaded {
  readonly groupId: GroupId
  readonly hardState: HardState
  readonly snapshot: Snapshot | undefined
  readonly firstIndex: Index
  readonly lastIndex: Index
  readonly floorTerm: Term
  readonly entries: ReadonlyArray<Entry>
}

/** Counters of one open store. */
export interface StoreCoreStats {
  readonly batches: number
  readonly failedBatches: number
  readonly requests: number
  readonly updates: number
  readonly entries: number
  readonly queued: number
  readonly inFlight: number
  readonly groups: number
}

/** Anything a back end throws must be a store error; anything else is a bug and is rethrown. */
const asStoreError = (e: unknown): StoreError => {
  if (isStoreError(e)) return e
  throw e
}

/** The core of one open store. */
export class StoreCore<B> {
  private readonly table: GroupTable
  private readonly writer: Writer<B>

  constructor(
    private readonly backend: Backend<B>,
    private readonly faults: FaultPlan | undefined,
    coalesce: boolean,
  ) {
    this.table = new GroupTable(backend, faults)
    this.writer = new Writer(backend, this.table, faults, coalesce)
    this.writer.startSweeper()
  }

  /** Where the data lives (for messages). */
  get location(): string {
    return this.backend.location
  }

  /** The counters. */
  stats(): StoreCoreStats {
    return {
      ...this.writer.counters,
      queued: this.writer.queued(),
      inFlight: this.writer.inFlight(),
      groups: this.table.groups.size,
    }
  }

  // ---------------------------------------------------------------- writes

  /** Takes a write call; `done` is called once, when it is durable or has failed. */
  submit(updates: ReadonlyArray<UpdateInput>, done: Done, sync = true): void {
    const refused = this.refusal(updates)
    if (refused !== undefined) {
      done(refused)
      return
    }
    let withSnapshots = false
    for (const u of updates)
      if (u.snapshot !== undefined || u.savedSnapshot !== undefined) withSnapshots = true
    // Without snapshots a caller's update is already a prepared one.
    if (!withSnapshots) {
      this.writer.submit(request(updates, undefined, true, done, sync))
      return
    }
    // The call takes its place in the order now; its snapshot data goes to files first (outside
    // the batch path), and the batch then points to it.
    // Snapshots are always synced: their files are.
    const r = request(undefined, undefined, false, done, true)
    r.groups = updates.map((u) => u.groupId)
    this.writer.submit(r)
    this.prepareSnapshots(updates).then(
      ({ prepared, refs }) => this.writer.prepared(r, prepared, refs),
      (e: unknown) => this.writer.failed(r, asStoreError(e)),
    )
  }

  /** Takes the removal of a group's records and snapshot data. */
  remove(groupId: GroupId, done: Done): void {
    const refused = this.table.refusal()
    if (refused !== undefined) {
      done(refused)
      return
    }
    this.writer.submit(request(undefined, groupId, true, done))
  }

  private refusal(updates: ReadonlyArray<UpdateInput>): WriteError | undefined {
    const refused = this.table.refusal()
    if (refused !== undefined) return refused
    for (const u of updates) {
      const failed = this.table.groups.get(u.groupId)?.failed
      if (failed !== undefined) return failed
    }
    return undefined
  }

  private async prepareSnapshots(updates: ReadonlyArray<UpdateInput>) {
    const refs: Array<readonly [GroupId, SnapshotRef]> = []
    const write = async (g: GroupId, s: Snapshot | undefined) => {
      if (s === undefined) return undefined
      const ref = await this.backend.writeSnapshot(g, s)
      refs.push([g, ref])
      return ref
    }
    try {
      const prepared = await Promise.all(
        updates.map(
          async (u): Promise<PreparedUpdate> => ({
            groupId: u.groupId,
            install: await write(u.groupId, u.snapshot),
            entries: u.entries,
            hardState: u.hardState,
            save: await write(u.groupId, u.savedSnapshot),
            compactTo: u.compactTo,
          }),
        ),
      )
      return { prepared, refs }
    } catch (e) {
      this.writer.discard(refs)
      throw e
    }
  }

  // ---------------------------------------------------------------- reads

  private readable(groupId: GroupId): GroupMeta {
    const refused = this.table.refusal()
    if (refused !== undefined) throw refused
    const st = this.table.groups.get(groupId)
    if (st === undefined) return emptyMeta
    if (st.failed !== undefined) throw st.failed
    return st.meta
  }

  /** Groups with anything stored, stopped ones included, in ascending order. */
  groups(): GroupId[] {
    const refused = this.table.refusal()
    if (refused !== undefined) throw refused
    return [...this.table.groups.keys()].sort((a, b) => a - b)
  }

  /** The group's metadata (an empty log for a group never written). */
  meta(groupId: GroupId): GroupMeta {
    return this.readable(groupId)
  }

  /** Entries `lo .. hi-1`, at most `maxBytes` in total but at least one. */
  async entries(groupId: GroupId, lo: Index, hi: Index, maxBytes: number): Promise<Entry[]> {
    const meta = this.readable(groupId)
    this.checkRange(groupId, meta, lo, hi)
    if (lo >= hi) return []
    const raw = await this.backend.readEntries(groupId, lo, hi, maxBytes)
    const out: Entry[] = []
    for (let k = 0; k < raw.values.length; k++) {
      const index = raw.indexes[k]!
      if (index !== lo + k) break
      const value =
        this.faults === undefined ? raw.values[k]! : this.faults.readEntry(groupId, index, raw.values[k]!)
      const e = decodeEntry(entryKey(groupId, index), index, value)
      if (e === undefined) throw this.table.corruptEntry(groupId, index, "checksum mismatch")
      out.push(e)
    }
    if (out.length < raw.values.length || (out.length < hi - lo && !raw.limited) || out.length === 0) {
      // A hole: either the log moved while we read (then say how), or a record is missing.
      this.checkRange(groupId, this.readable(groupId), lo, hi)
      throw this.table.corruptEntry(groupId, lo + out.length, "the entry is missing from the live range")
    }
    return limitSize(out, maxBytes) as Entry[]
  }

  private checkRange(groupId: GroupId, meta: GroupMeta, lo: Index, hi: Index): void {
    if (lo <= meta.floor.index)
      throw new IndexCompacted({ groupId, index: lo, firstIndex: meta.floor.index + 1 })
    if (hi > meta.lastIndex + 1)
      throw new IndexUnavailable({ groupId, index: hi - 1, lastIndex: meta.lastIndex })
  }

  /** The term of entry `index` (the floor's term for `firstIndex - 1`). */
  async term(groupId: GroupId, index: Index): Promise<Term> {
    const meta = this.readable(groupId)
    if (index === meta.floor.index) return meta.floor.term
    if (index < meta.floor.index)
      throw new IndexCompacted({ groupId, index, firstIndex: meta.floor.index + 1 })
    if (index > meta.lastIndex) throw new IndexUnavailable({ groupId, index, lastIndex: meta.lastIndex })
    const [e] = await this.entries(groupId, index, index + 1, Infinity)
    return e!.term
  }

  /** The group's latest snapshot with its data, checked against its record. */
  async snapshot(groupId: GroupId): Promise<Snapshot | undefined> {
    const ref = this.readable(groupId).snapshot
    if (ref === undefined) return undefined
    let data: Uint8Array
    try {
      data = await this.backend.readSnapshot(groupId, ref)
    } catch (e) {
      if (isGroupError(e)) throw this.table.stop(groupId, e)
      throw e
    }
    if (this.faults !== undefined) data = this.faults.readSnapshot(groupId, data)
    if (data.length !== ref.size)
      throw this.table.stop(
        groupId,
        new CorruptedSnapshot({
          groupId,
          file: ref.file,
          detail: `expected ${ref.size} bytes, read ${data.length}`,
        }),
      )
    if (dataCrc(data) !== ref.crc)
      throw this.table.stop(
        groupId,
        new CorruptedSnapshot({ groupId, file: ref.file, detail: "checksum mismatch" }),
      )
    return { metadata: ref.metadata, data }
  }

  /** Everything needed to rebuild the group's in-memory log. */
  async load(groupId: GroupId): Promise<Loaded> {
    const meta = this.readable(groupId)
    const first = meta.floor.index + 1
    const entries =
      meta.lastIndex >= first ? await this.entries(groupId, first, meta.lastIndex + 1, Infinity) : []
    const snapshot = await this.snapshot(groupId)
    return {
      groupId,
      hardState: meta.hardState,
      snapshot,
      firstIndex: first,
      lastIndex: meta.lastIndex,
      floorTerm: meta.floor.term,
      entries,
    }
  }

  // ---------------------------------------------------------------- lifecycle

  /** Refuses new calls, lets queued writes finish, then closes the back end. */
  async close(): Promise<void> {
    this.table.closing = true
    // A sync held by fault injection would never finish: release it.
    this.faults?.resumeSync()
    await this.writer.idle()
    await this.backend.close()
  }
}
