/**
 * The engine shared by every back end: per-group metadata in memory, group commit, reads with
 * checksum checks, stopped groups and the stopped store.
 *
 * Group commit: `submit` queues a write; while a batch is being written, every write that
 * arrives waits, and all of them go out together as the next single synced batch. A caller is
 * told "durable" only after the batch holding its update is synced; when a batch fails every
 * caller in it fails and nothing of it is acknowledged. After a failed batch the store is
 * STOPPED (every later call fails with that error) because the batch's outcome on disk is
 * unknown until the store is reopened and reads back what is really there.
 *
 * Each write call is planned against the metadata left by the calls before it in the same
 * batch; a call that is refused (invalid update, stopped group) is rolled back alone and the
 * others still go out.
 *
 * With `coalesce = false` (for measuring a baseline only) every write call is its own synced
 * batch, and calls that touch disjoint groups are written concurrently.
 */
import type { GroupId } from "../../raft/Ids.js"
import { limitSize } from "../../raft/Storage.js"
import type { Entry, HardState, Index, Snapshot, Term } from "../../raft/Types.js"
import {
  CorruptedEntry,
  CorruptedSnapshot,
  DiskFull,
  type GroupError,
  IndexCompacted,
  IndexUnavailable,
  InvalidUpdate,
  isGroupError,
  isStoreError,
  StoreClosed,
  type StoreError,
  SyncFailed,
  type WriteError,
  WriteFailed,
} from "../StoreErrors.js"
import type { Backend } from "./Backend.js"
import { dataCrc, decodeEntry, decodeEntryTerm, entryKey, type SnapshotRef } from "./Codec.js"
import type { FaultPlan } from "./FaultPlan.js"
import { type Draft, emptyMeta, type GroupMeta, type Op, type PreparedUpdate, planUpdate } from "./Plan.js"

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
export interface EngineStats {
  batches: number
  failedBatches: number
  requests: number
  updates: number
  entries: number
  queued: number
  inFlight: number
  groups: number
}

type Done = (error: WriteError | undefined) => void

interface Request {
  /** Undefined for a group removal. */
  readonly updates: ReadonlyArray<PreparedUpdate> | undefined
  readonly remove: GroupId | undefined
  /** Snapshot data written for this request, by group. */
  readonly refs: ReadonlyArray<readonly [GroupId, SnapshotRef]>
  readonly done: Done
}

interface GroupState {
  meta: GroupMeta
  failed: GroupError | undefined
}

const SWEEP_LIMIT = 1024

const groupsOf = (r: Request): GroupId[] =>
  r.remove !== undefined ? [r.remove] : r.updates!.map((u) => u.groupId)

/** Converts anything thrown by a back end into a store error (a bare exception is a bug: rethrown). */
const asStoreError = (e: unknown): StoreError => {
  if (isStoreError(e)) return e
  throw e
}

/** The shared engine of one open store. */
export class Engine {
  private readonly states = new Map<GroupId, GroupState>()
  private queue: Request[] = []
  private running = false
  private preparing = 0
  private stopped: StoreError | undefined
  private closing = false
  private readonly busy = new Set<GroupId>()
  private idleWaiters: Array<() => void> = []
  private deletions: Promise<void> = Promise.resolve()
  private readonly counters: EngineStats = {
    batches: 0,
    failedBatches: 0,
    requests: 0,
    updates: 0,
    entries: 0,
    queued: 0,
    inFlight: 0,
    groups: 0,
  }

  constructor(
    private readonly backend: Backend,
    private readonly faults: FaultPlan | undefined,
    private readonly coalesce: boolean,
  ) {
    for (const g of backend.opened) this.states.set(g.groupId, { meta: g.meta, failed: g.failed })
  }

  /** Where the data lives (for messages). */
  get location(): string {
    return this.backend.location
  }

  /** A copy of the counters. */
  stats(): EngineStats {
    return { ...this.counters, queued: this.queue.length, groups: this.states.size }
  }

  // ---------------------------------------------------------------- writes

  /** Queues a write; `done` is called once, when it is durable or has failed. */
  submit(updates: ReadonlyArray<UpdateInput>, done: Done): void {
    const refused = this.refusal(updates)
    if (refused !== undefined) {
      done(refused)
      return
    }
    let withSnapshots = false
    for (const u of updates)
      if (u.snapshot !== undefined || u.savedSnapshot !== undefined) withSnapshots = true
    if (!withSnapshots) {
      const prepared: PreparedUpdate[] = new Array(updates.length)
      for (let k = 0; k < updates.length; k++) {
        const u = updates[k]!
        prepared[k] = {
          groupId: u.groupId,
          install: undefined,
          entries: u.entries,
          hardState: u.hardState,
          save: undefined,
          compactTo: u.compactTo,
        }
      }
      this.enqueue({ updates: prepared, remove: undefined, refs: [], done })
      return
    }
    this.preparing++
    this.prepareSnapshots(updates).then(
      ({ prepared, refs }) => {
        this.preparing--
        this.enqueue({ updates: prepared, remove: undefined, refs, done })
        this.notifyIdle()
      },
      (e: unknown) => {
        this.preparing--
        this.notifyIdle()
        done(asStoreError(e))
      },
    )
  }

  /** Queues the removal of a group's records and snapshot data. */
  remove(groupId: GroupId, done: Done): void {
    if (this.stopped !== undefined || this.closing) {
      done(this.stopped ?? this.closedError())
      return
    }
    this.enqueue({ updates: undefined, remove: groupId, refs: [], done })
  }

  private refusal(updates: ReadonlyArray<UpdateInput>): WriteError | undefined {
    if (this.stopped !== undefined || this.closing) return this.stopped ?? this.closedError()
    for (const u of updates) {
      const failed = this.states.get(u.groupId)?.failed
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
      this.discard(refs)
      throw e
    }
  }

  private enqueue(r: Request): void {
    if (this.stopped !== undefined || this.closing) {
      this.discard(r.refs)
      r.done(this.stopped ?? this.closedError())
      return
    }
    this.queue.push(r)
    if (this.coalesce) {
      if (!this.running) {
        this.running = true
        this.run().then(undefined, (e: unknown) => this.crash(e))
      }
    } else this.dispatch()
  }

  private async run(): Promise<void> {
    while (this.queue.length > 0) {
      const cut = this.queue.findIndex((r) => r.remove !== undefined)
      let batch: Request[]
      if (cut === 0) batch = this.queue.splice(0, 1)
      else if (cut > 0) batch = this.queue.splice(0, cut)
      else {
        batch = this.queue
        this.queue = []
      }
      await this.commit(batch)
      while (this.queue.length === 0 && this.stopped === undefined && this.backend.hasGarbage()) {
        try {
          await this.backend.sweep(SWEEP_LIMIT)
        } catch (e) {
          this.stopped = asStoreError(e)
        }
      }
    }
    this.running = false
    this.notifyIdle()
  }

  /** Non-coalescing mode: start every queued call whose groups are not being written. */
  private dispatch(): void {
    for (let k = 0; k < this.queue.length; ) {
      const r = this.queue[k]!
      const groups = groupsOf(r)
      if (groups.some((g) => this.busy.has(g))) {
        k++
        continue
      }
      this.queue.splice(k, 1)
      for (const g of groups) this.busy.add(g)
      this.commit([r]).then(
        () => {
          for (const g of groups) this.busy.delete(g)
          this.dispatch()
          if (this.queue.length === 0 && this.counters.inFlight === 0) this.notifyIdle()
        },
        (e: unknown) => this.crash(e),
      )
    }
  }

  private async commit(batch: Request[]): Promise<void> {
    const ops: Op[] = []
    const drafts = new Map<GroupId, Draft>()
    const accepted: Request[] = []
    for (const r of batch) {
      if (this.stopped !== undefined) {
        this.discard(r.refs)
        r.done(this.stopped)
        continue
      }
      const error =
        r.remove !== undefined ? this.planRemove(r.remove, ops) : this.plan(r.updates!, drafts, ops)
      if (error !== undefined) {
        this.discard(r.refs)
        r.done(error)
      } else accepted.push(r)
    }
    if (accepted.length === 0) return

    this.counters.inFlight++
    let failure: StoreError | undefined
    try {
      const armed = this.faults?.takeBatchFault()
      if (this.faults?.hasSyncDelay()) await this.faults.beforeSync()
      if (armed?.fault === "failWrite") {
        failure =
          armed.kind === "diskFull"
            ? new DiskFull({ dir: this.location, detail: "injected fault" })
            : new WriteFailed({ dir: this.location, reason: "injected fault" })
      } else if (armed?.fault === "failSync") {
        await this.backend.commit(ops, false)
        failure = this.stopped = new SyncFailed({ dir: this.location, reason: "injected fault" })
      } else await this.backend.commit(ops, true)
    } catch (e) {
      failure = this.stopped = asStoreError(e)
    } finally {
      this.counters.inFlight--
    }
    if (failure !== undefined) {
      this.counters.failedBatches++
      for (const r of accepted) r.done(failure)
      return
    }

    const obsolete: Array<readonly [GroupId, string]> = []
    for (const r of accepted) {
      for (const [g, ref] of r.refs) if (drafts.get(g)?.meta.snapshot !== ref) obsolete.push([g, ref.file])
      if (r.remove !== undefined) {
        const old = this.states.get(r.remove)?.meta.snapshot
        if (old !== undefined) obsolete.push([r.remove, old.file])
        this.states.delete(r.remove)
      }
    }
    for (const [g, d] of drafts) {
      const st = this.states.get(g)
      if (st === undefined) {
        // A group is stored once something was written for it (not for an update that changed nothing).
        if (d.meta !== emptyMeta) this.states.set(g, { meta: d.meta, failed: undefined })
      } else {
        const old = st.meta.snapshot
        if (old !== undefined && old !== d.meta.snapshot) obsolete.push([g, old.file])
        st.meta = d.meta
      }
    }
    this.counters.batches++
    for (const r of accepted) {
      this.counters.requests++
      if (r.updates !== undefined) {
        this.counters.updates += r.updates.length
        for (const u of r.updates) this.counters.entries += u.entries?.length ?? 0
      }
      r.done(undefined)
    }
    // Old snapshot data goes only now that the records pointing to the new data are durable.
    if (obsolete.length > 0) this.discard(obsolete.map(([g, file]) => [g, { file }] as const))
  }

  private plan(updates: ReadonlyArray<PreparedUpdate>, drafts: Map<GroupId, Draft>, ops: Op[]) {
    const mark = ops.length
    const undo: Array<readonly [GroupId, Draft | undefined]> = []
    let error: WriteError | undefined
    for (const u of updates) {
      const st = this.states.get(u.groupId)
      if (st?.failed !== undefined) {
        error = st.failed
        break
      }
      const before = drafts.get(u.groupId)
      undo.push([u.groupId, before])
      let next: Draft | InvalidUpdate
      try {
        next = planUpdate(before ?? { meta: st?.meta ?? emptyMeta, pending: [] }, u, ops, this.readTerm)
      } catch (e) {
        if (!isGroupError(e)) throw e
        error = e
        break
      }
      if (next instanceof InvalidUpdate) {
        error = next
        break
      }
      drafts.set(u.groupId, next)
    }
    if (error === undefined) return undefined
    ops.length = mark
    for (let k = undo.length - 1; k >= 0; k--) {
      const [g, d] = undo[k]!
      if (d === undefined) drafts.delete(g)
      else drafts.set(g, d)
    }
    return error
  }

  private planRemove(groupId: GroupId, ops: Op[]): undefined {
    ops.push({ _tag: "RemoveGroup", groupId })
    return undefined
  }

  private readonly readTerm = (groupId: GroupId, index: Index): Term => {
    const key = entryKey(groupId, index)
    const raw = this.backend.readEntrySync(groupId, index)
    if (raw === undefined) throw this.fail(groupId, index, "the entry is missing from the live range")
    const value = this.faults === undefined ? raw : this.faults.readEntry(groupId, index, raw)
    const term = decodeEntryTerm(key, value)
    if (term === undefined) throw this.fail(groupId, index, "checksum mismatch")
    return term
  }

  private fail(groupId: GroupId, index: Index, detail: string): GroupError {
    return this.stopGroup(groupId, new CorruptedEntry({ dir: this.location, groupId, index, detail }))
  }

  /** Marks a group stopped (keeps the first error) and returns the error it is stopped with. */
  private stopGroup(groupId: GroupId, error: GroupError): GroupError {
    const st = this.states.get(groupId)
    if (st === undefined) {
      this.states.set(groupId, { meta: emptyMeta, failed: error })
      return error
    }
    st.failed ??= error
    return st.failed
  }

  private discard(refs: ReadonlyArray<readonly [GroupId, { readonly file: string }]>): void {
    if (refs.length === 0) return
    const previous = this.deletions
    this.deletions = (async () => {
      await previous
      for (const [g, ref] of refs) await this.backend.deleteSnapshot(g, ref.file)
    })()
  }

  private closedError(): StoreClosed {
    return new StoreClosed({ dir: this.location })
  }

  private crash(e: unknown): void {
    // A bug in the engine: fail every waiting caller loudly instead of hanging them.
    this.stopped = new WriteFailed({ dir: this.location, reason: `internal error: ${String(e)}` })
    const queued = this.queue
    this.queue = []
    for (const r of queued) r.done(this.stopped)
    this.running = false
    this.notifyIdle()
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const w of waiters) w()
  }

  // ---------------------------------------------------------------- reads

  private readable(groupId: GroupId): GroupMeta {
    if (this.stopped !== undefined) throw this.stopped
    if (this.closing) throw this.closedError()
    const st = this.states.get(groupId)
    if (st === undefined) return emptyMeta
    if (st.failed !== undefined) throw st.failed
    return st.meta
  }

  /** Groups with anything stored, stopped ones included, in ascending order. */
  groups(): GroupId[] {
    if (this.stopped !== undefined) throw this.stopped
    if (this.closing) throw this.closedError()
    return [...this.states.keys()].sort((a, b) => a - b)
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
      if (e === undefined) throw this.fail(groupId, index, "checksum mismatch")
      out.push(e)
    }
    if (out.length < raw.values.length || (out.length < hi - lo && !raw.limited) || out.length === 0) {
      // A hole: either the log moved while we read (then say how), or a record is missing.
      this.checkRange(groupId, this.readable(groupId), lo, hi)
      throw this.fail(groupId, lo + out.length, "the entry is missing from the live range")
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
      if (isGroupError(e)) throw this.stopGroup(groupId, e)
      throw e
    }
    if (this.faults !== undefined) data = this.faults.readSnapshot(groupId, data)
    if (data.length !== ref.size)
      throw this.stopGroup(
        groupId,
        new CorruptedSnapshot({
          groupId,
          file: ref.file,
          detail: `expected ${ref.size} bytes, read ${data.length}`,
        }),
      )
    if (dataCrc(data) !== ref.crc)
      throw this.stopGroup(
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

  /** Lets queued writes finish, refuses new calls, then closes the back end. */
  async close(): Promise<void> {
    this.closing = true
    // A sync held by fault injection would never finish: release it.
    this.faults?.resumeSync()
    while (this.running || this.preparing > 0 || this.counters.inFlight > 0 || this.queue.length > 0) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve))
    }
    await this.deletions
    await this.backend.close()
  }
}
