/**
 * Group commit. At most one batch is being written at a time; every write call that arrives
 * meanwhile is planned and encoded AT ONCE into the next batch (on top of what the batch in
 * flight will leave), so the CPU work of the next batch overlaps the sync of the current one.
 * When the current batch is durable its callers are told, and the next batch goes out as one
 * synced write.
 *
 * Rules:
 * - A caller is acknowledged only after the batch holding its update is durable.
 * - A failed batch fails every caller in it; nothing of it is acknowledged. A real failure
 *   STOPS the store (the batch's outcome on disk is unknown until it is reopened), failing
 *   everything queued too. An injected `failNextWrite` (nothing reached the disk) does not: the
 *   calls planned on top of the failed batch are planned again on what is durable.
 * - A call that is refused (invalid update, stopped group) is rolled back alone.
 * - A group removal runs alone: calls after it wait until it is durable.
 * - Entries left below floors are swept by a background task, unsynced, never together with a
 *   removal (a removed group may be re-created at low indexes).
 *
 * With `coalesce = false` (baseline measurements only) every call is its own synced batch and
 * calls on disjoint groups are written concurrently, in call order per group.
 */
import type { GroupId } from "../../raft/Ids.js"
import {
  DiskFull,
  InvalidUpdate,
  isGroupError,
  isStoreError,
  type StoreError,
  SyncFailed,
  type WriteError,
  WriteFailed,
} from "../StoreErrors.js"
import type { Backend } from "./Backend.js"
import type { SnapshotRef } from "./Codec.js"
import type { FaultPlan } from "./FaultPlan.js"
import type { GroupTable } from "./GroupTable.js"
import { type Draft, emptyMeta, type Op, type PreparedUpdate, planUpdate } from "./Plan.js"

/** Called once per request: `undefined` when durable. */
export type Done = (error: WriteError | undefined) => void

/** A write call (or a group removal), with its snapshot data already written. */
export interface Request {
  readonly updates: ReadonlyArray<PreparedUpdate> | undefined
  readonly remove: GroupId | undefined
  /** Snapshot data written for this request. */
  readonly refs: ReadonlyArray<readonly [GroupId, SnapshotRef]>
  readonly done: Done
}

/** Counters of the writer. */
export interface WriterCounters {
  batches: number
  failedBatches: number
  requests: number
  updates: number
  entries: number
}

interface Batch<B> {
  readonly handle: B
  readonly requests: Request[]
  readonly drafts: Map<GroupId, Draft>
}

const SWEEP_LIMIT = 1024

/** Anything a back end throws must be a store error; anything else is a bug and is rethrown. */
const asStoreError = (e: unknown): StoreError => {
  if (isStoreError(e)) return e
  throw e
}

/** The group-commit writer of one open store. */
export class Writer<B> {
  readonly counters: WriterCounters = { batches: 0, failedBatches: 0, requests: 0, updates: 0, entries: 0 }
  private open: Batch<B> | undefined
  private inflight = 0
  /** Coalescing mode: the drafts of the batch in flight, the base of the next batch's planning. */
  private inflightDrafts: Map<GroupId, Draft> | undefined
  private backlog: Request[] = []
  private removing = false
  private sweeping = false
  private readonly busy = new Set<GroupId>()
  private idleWaiters: Array<() => void> = []
  private deletions: Promise<void> = Promise.resolve()
  private readonly ops: Op[] = []

  constructor(
    private readonly backend: Backend<B>,
    private readonly table: GroupTable,
    private readonly faults: FaultPlan | undefined,
    private readonly coalesce: boolean,
  ) {}

  /** Calls waiting for a batch. */
  queued(): number {
    return (this.open?.requests.length ?? 0) + this.backlog.length
  }

  /** Batches being written. */
  inFlight(): number {
    return this.inflight
  }

  /** Takes a request; its `done` is called once, when it is durable or has failed. */
  submit(r: Request): void {
    const refused = this.table.refusal()
    if (refused !== undefined) {
      this.reject(r, refused)
      return
    }
    if (!this.coalesce || r.remove !== undefined || this.backlog.length > 0 || this.removing)
      this.backlog.push(r)
    else this.addToOpen(r)
    this.kick()
  }

  /** Resolves once nothing is queued, written or swept. */
  async idle(): Promise<void> {
    while (this.inflight > 0 || this.queued() > 0 || this.removing || this.sweeping)
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve))
    await this.deletions
  }

  /** Removes snapshot data no durable record points to, in the background, in order. */
  discard(refs: ReadonlyArray<readonly [GroupId, { readonly file: string }]>): void {
    if (refs.length === 0) return
    const previous = this.deletions
    this.deletions = (async () => {
      await previous
      for (const [g, ref] of refs) await this.backend.deleteSnapshot(g, ref.file)
    })()
  }

  private reject(r: Request, error: WriteError): void {
    this.discard(r.refs)
    r.done(error)
  }

  private kick(): void {
    if (this.coalesce) this.pump()
    else this.dispatch()
  }

  /** Plans a request into the open batch and encodes it there; refuses it alone when invalid. */
  private addToOpen(r: Request): void {
    if (this.open === undefined) this.open = { handle: this.backend.begin(), requests: [], drafts: new Map() }
    const batch = this.open
    const error = this.plan(r.updates!, batch.drafts, this.inflightDrafts)
    if (error !== undefined) {
      this.reject(r, error)
      return
    }
    this.backend.add(batch.handle, this.ops)
    batch.requests.push(r)
  }

  /** Coalescing mode: starts the next batch or removal when nothing is being written. */
  private pump(): void {
    if (this.inflight > 0 || this.removing) return
    for (;;) {
      const open = this.open
      if (open !== undefined && open.requests.length > 0) {
        this.open = undefined
        this.start(open)
        return
      }
      const head = this.backlog[0]
      if (head === undefined) break
      if (head.remove !== undefined) {
        if (this.sweeping) return // the sweeper yields after its current step, then pumps
        this.backlog.shift()
        this.dropEmptyOpen()
        this.startRemoval(head)
        return
      }
      while (this.backlog.length > 0 && this.backlog[0]!.remove === undefined)
        this.addToOpen(this.backlog.shift()!)
    }
    this.dropEmptyOpen()
    this.notifyIdle()
  }

  private dropEmptyOpen(): void {
    if (this.open !== undefined && this.open.requests.length === 0) {
      this.backend.abandon(this.open.handle)
      this.open = undefined
    }
  }

  /** Non-coalescing mode: starts every call whose groups are not being written, in call order per group. */
  private dispatch(): void {
    const blocked = new Set<GroupId>()
    for (let k = 0; k < this.backlog.length; ) {
      const r = this.backlog[k]!
      if (r.remove !== undefined) {
        if (k > 0 || this.inflight > 0 || this.sweeping || this.removing) break
        this.backlog.shift()
        this.startRemoval(r)
        return
      }
      if (this.removing) break
      const groups = r.updates!.map((u) => u.groupId)
      if (groups.some((g) => this.busy.has(g) || blocked.has(g))) {
        for (const g of groups) blocked.add(g)
        k++
        continue
      }
      this.backlog.splice(k, 1)
      const batch: Batch<B> = { handle: this.backend.begin(), requests: [r], drafts: new Map() }
      const error = this.plan(r.updates!, batch.drafts, undefined)
      if (error !== undefined) {
        this.backend.abandon(batch.handle)
        this.reject(r, error)
        continue
      }
      this.backend.add(batch.handle, this.ops)
      for (const g of groups) this.busy.add(g)
      this.start(batch)
    }
    if (this.inflight === 0 && this.backlog.length === 0) this.notifyIdle()
  }

  /** Plans `updates` into `drafts` (on top of `base`, then the committed state); ops land in `this.ops`. */
  private plan(
    updates: ReadonlyArray<PreparedUpdate>,
    drafts: Map<GroupId, Draft>,
    base: Map<GroupId, Draft> | undefined,
  ): WriteError | undefined {
    const ops = this.ops
    ops.length = 0
    const undo: Array<readonly [GroupId, Draft | undefined]> = []
    let error: WriteError | undefined
    for (const u of updates) {
      const st = this.table.groups.get(u.groupId)
      if (st?.failed !== undefined) {
        error = st.failed
        break
      }
      const before = drafts.get(u.groupId)
      undo.push([u.groupId, before])
      const from = before ?? base?.get(u.groupId) ?? { meta: st?.meta ?? emptyMeta, pending: [] }
      let next: Draft | InvalidUpdate
      try {
        next = planUpdate(from, u, ops, this.table.readTerm)
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
    ops.length = 0
    for (let k = undo.length - 1; k >= 0; k--) {
      const [g, d] = undo[k]!
      if (d === undefined) drafts.delete(g)
      else drafts.set(g, d)
    }
    return error
  }

  /** Writes with the armed faults; returns the failure, stopping the store when it must. */
  private async writeWithFaults(write: (sync: boolean) => Promise<void>): Promise<StoreError | undefined> {
    try {
      const armed = this.faults?.takeBatchFault()
      if (this.faults?.hasSyncDelay()) await this.faults.beforeSync()
      if (armed?.fault === "failWrite")
        return armed.kind === "diskFull"
          ? new DiskFull({ dir: this.table.location, detail: "injected fault" })
          : new WriteFailed({ dir: this.table.location, reason: "injected fault" })
      if (armed?.fault === "failSync") {
        await write(false)
        return (this.table.stopped = new SyncFailed({ dir: this.table.location, reason: "injected fault" }))
      }
      await write(true)
      return undefined
    } catch (e) {
      return (this.table.stopped = asStoreError(e))
    }
  }

  private start(batch: Batch<B>): void {
    this.inflight++
    if (this.coalesce) this.inflightDrafts = batch.drafts
    this.writeWithFaults((sync) => this.backend.write(batch.handle, sync)).then(
      (failure) => this.finish(batch, failure),
      (e: unknown) => this.crash(e),
    )
  }

  private finish(batch: Batch<B>, failure: StoreError | undefined): void {
    this.inflight--
    if (this.coalesce) this.inflightDrafts = undefined
    else for (const r of batch.requests) for (const u of r.updates!) this.busy.delete(u.groupId)
    if (failure !== undefined) {
      this.counters.failedBatches++
      for (const r of batch.requests) r.done(failure)
      if (this.table.stopped !== undefined) this.failQueued(this.table.stopped)
      else this.replanOpen()
    } else this.commit(batch)
    this.kick()
    this.startSweeper()
  }

  /** The batch is durable: publish its drafts, acknowledge its callers, drop obsolete snapshot data. */
  private commit(batch: Batch<B>): void {
    const obsolete: Array<readonly [GroupId, { readonly file: string }]> = []
    for (const r of batch.requests)
      for (const [g, ref] of r.refs) if (batch.drafts.get(g)?.meta.snapshot !== ref) obsolete.push([g, ref])
    for (const [g, d] of batch.drafts) {
      const st = this.table.groups.get(g)
      if (st === undefined) {
        // A group is stored once something was written for it, not for an update that changed nothing.
        if (d.meta !== emptyMeta) this.table.groups.set(g, { meta: d.meta, failed: undefined })
        continue
      }
      const old = st.meta.snapshot
      if (old !== undefined && old !== d.meta.snapshot) obsolete.push([g, old])
      st.meta = d.meta
    }
    this.counters.batches++
    for (const r of batch.requests) {
      this.counters.requests++
      this.counters.updates += r.updates!.length
      for (const u of r.updates!) this.counters.entries += u.entries?.length ?? 0
      r.done(undefined)
    }
    // Old snapshot data goes only now that the records pointing to the new data are durable.
    this.discard(obsolete)
  }

  /** After a failure that did not stop the store: plan the open batch's calls again on what is durable. */
  private replanOpen(): void {
    const open = this.open
    if (open === undefined) return
    this.open = undefined
    this.backend.abandon(open.handle)
    for (const r of open.requests) this.addToOpen(r)
  }

  private failQueued(error: StoreError): void {
    const open = this.open
    this.open = undefined
    if (open !== undefined) {
      this.backend.abandon(open.handle)
      for (const r of open.requests) this.reject(r, error)
    }
    const backlog = this.backlog
    this.backlog = []
    for (const r of backlog) this.reject(r, error)
  }

  private startRemoval(r: Request): void {
    const groupId = r.remove!
    this.removing = true
    this.inflight++
    this.writeWithFaults((sync) => this.backend.removeGroup(groupId, sync)).then(
      (failure) => {
        this.removing = false
        this.inflight--
        if (failure !== undefined) {
          this.counters.failedBatches++
          r.done(failure)
          if (this.table.stopped !== undefined) this.failQueued(this.table.stopped)
        } else {
          const old = this.table.groups.get(groupId)?.meta.snapshot
          this.table.groups.delete(groupId)
          this.counters.batches++
          this.counters.requests++
          r.done(undefined)
          if (old !== undefined) this.discard([[groupId, old]])
        }
        this.kick()
      },
      (e: unknown) => this.crash(e),
    )
  }

  /** Deletes entries below floors in the background, a bounded step at a time (no-op when none). */
  startSweeper(): void {
    if (this.sweeping || this.removing || this.table.refusal() !== undefined || !this.backend.hasGarbage())
      return
    this.sweeping = true
    const run = async () => {
      while (this.backend.hasGarbage() && this.table.refusal() === undefined) {
        if (this.backlog.some((r) => r.remove !== undefined)) break // let the removal go first
        await this.backend.sweep(SWEEP_LIMIT)
      }
    }
    run().then(
      () => {
        this.sweeping = false
        this.kick()
      },
      (e: unknown) => {
        this.sweeping = false
        this.table.stopped ??= asStoreError(e)
        this.failQueued(this.table.stopped)
        this.kick()
      },
    )
  }

  private crash(e: unknown): void {
    // A bug in the engine: fail everything loudly instead of leaving callers hanging.
    this.table.stopped = new WriteFailed({ dir: this.table.location, reason: `internal error: ${String(e)}` })
    this.inflight = 0
    this.removing = false
    this.failQueued(this.table.stopped)
    this.notifyIdle()
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const w of waiters) w()
  }
}
