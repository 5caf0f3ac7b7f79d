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
 * - A batch is synced when any call in it asks for `sync` (the default). A batch of unsynced
 *   calls only is written to LevelDB without fsync: it survives the process, not the machine;
 *   the next synced batch makes it durable too (LevelDB's log is sequential).
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
import {
  type Draft,
  durableDraft,
  emptyMeta,
  type Op,
  type PreparedUpdate,
  planUpdate,
  settle,
} from "./Plan.js"

/** Called once per request: `undefined` when durable. */
export type Done = (error: WriteError | undefined) => void

/**
 * A write call or a group removal. A call with snapshots is queued at once (holding its place
 * in the order) but is `ready` only once its snapshot data is written; until then calls after it
 * on the same groups wait behind it.
 */
export interface Request {
  updates: ReadonlyArray<PreparedUpdate> | undefined
  readonly remove: GroupId | undefined
  /** Snapshot data written for this request. */
  refs: ReadonlyArray<readonly [GroupId, SnapshotRef]>
  ready: boolean
  /** The groups the request touches (computed when first needed). */
  groups: ReadonlyArray<GroupId> | undefined
  /** Set once `done` has been called. */
  settled: boolean
  /** Whether the batch holding it must be synced (false: written to LevelDB, not fsynced). */
  readonly sync: boolean
  readonly done: Done
}

/** A request for `updates`; `ready` false when its snapshot data is still being written. */
export const request = (
  updates: ReadonlyArray<PreparedUpdate> | undefined,
  remove: GroupId | undefined,
  ready: boolean,
  done: Done,
  sync = true,
): Request => ({ updates, remove, refs: [], ready, groups: undefined, settled: false, sync, done })

const groupsOf = (r: Request): ReadonlyArray<GroupId> =>
  (r.groups ??= r.remove !== undefined ? [r.remove] : r.updates!.map((u) => u.groupId))

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
  /** Synced when any of its requests asks for it. */
  sync: boolean
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
  private readonly undoGroups: GroupId[] = []
  private readonly undoDrafts: Array<Draft | undefined> = []

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
      this.settle(r, refused)
      return
    }
    this.backlog.push(r)
    this.kick()
  }

  /** A request's snapshot data is written: it may now be planned (unless it was failed meanwhile). */
  prepared(
    r: Request,
    updates: ReadonlyArray<PreparedUpdate>,
    refs: ReadonlyArray<readonly [GroupId, SnapshotRef]>,
  ): void {
    r.updates = updates
    r.refs = refs
    r.ready = true
    if (r.settled) this.discard(refs)
    else this.kick()
  }

  /** A request's snapshot data could not be written: it fails alone. */
  failed(r: Request, error: StoreError): void {
    const k = this.backlog.indexOf(r)
    if (k >= 0) this.backlog.splice(k, 1)
    if (!r.settled) this.settle(r, error)
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

  /** Tells the caller (once); a failed request's snapshot data is not needed any more. */
  private settle(r: Request, error: WriteError | undefined): void {
    if (r.settled) return
    r.settled = true
    if (error !== undefined) this.discard(r.refs)
    r.done(error)
  }

  private kick(): void {
    if (this.coalesce) this.pump()
    else this.dispatch()
  }

  /**
   * Takes from the backlog, in order, every request that may be planned now: ready, accepted by
   * `now`, and not touching a group of an earlier request still waiting. A removal is a barrier:
   * nothing after it moves before it is durable.
   */
  private takePlannable(now: ((r: Request) => boolean) | undefined, take: (r: Request) => void): void {
    let blocked: Set<GroupId> | undefined
    for (let k = 0; k < this.backlog.length; ) {
      const r = this.backlog[k]!
      if (r.remove !== undefined) break
      let waits = !r.ready
      if (!waits && blocked !== undefined) for (const g of groupsOf(r)) if (blocked.has(g)) waits = true
      if (waits || (now !== undefined && !now(r))) {
        blocked ??= new Set()
        for (const g of groupsOf(r)) blocked.add(g)
        k++
        continue
      }
      this.backlog.splice(k, 1)
      take(r)
    }
  }

  /** Plans a request into the open batch and encodes it there; refuses it alone when invalid. */
  private addToOpen(r: Request): void {
    if (this.open === undefined)
      this.open = { handle: this.backend.begin(), requests: [], drafts: new Map(), sync: false }
    const batch = this.open
    const error = this.plan(r.updates!, batch.drafts, this.inflightDrafts)
    if (error !== undefined) this.settle(r, error)
    else {
      this.backend.add(batch.handle, this.ops)
      batch.requests.push(r)
      if (r.sync) batch.sync = true
    }
  }

  /**
   * Coalescing mode: plans what may be planned into the open batch (also while a batch is being
   * written), and starts the next batch, or a removal, when nothing is being written.
   */
  private pump(): void {
    if (!this.removing) this.takePlannable(undefined, (r) => this.addToOpen(r))
    if (this.inflight > 0 || this.removing) return
    const open = this.open
    if (open !== undefined && open.requests.length > 0) {
      this.open = undefined
      this.start(open)
      return
    }
    this.dropEmptyOpen()
    const head = this.backlog[0]
    if (head?.remove !== undefined) {
      if (this.sweeping) return // the sweeper yields after its current step, then kicks
      this.backlog.shift()
      this.startRemoval(head)
      return
    }
    if (this.backlog.length === 0) this.notifyIdle()
  }

  private dropEmptyOpen(): void {
    if (this.open !== undefined && this.open.requests.length === 0) {
      this.backend.abandon(this.open.handle)
      this.open = undefined
    }
  }

  /** Non-coalescing mode: starts every call whose groups are not being written, in call order per group. */
  private dispatch(): void {
    if (this.removing) return
    this.takePlannable(
      (r) => !groupsOf(r).some((g) => this.busy.has(g)),
      (r) => {
        const batch: Batch<B> = {
          handle: this.backend.begin(),
          requests: [r],
          drafts: new Map(),
          sync: r.sync,
        }
        const error = this.plan(r.updates!, batch.drafts, undefined)
        if (error !== undefined) {
          this.backend.abandon(batch.handle)
          this.settle(r, error)
          return
        }
        this.backend.add(batch.handle, this.ops)
        for (const g of groupsOf(r)) this.busy.add(g)
        this.start(batch)
      },
    )
    const head = this.backlog[0]
    if (head?.remove !== undefined && this.inflight === 0 && !this.sweeping) {
      this.backlog.shift()
      this.startRemoval(head)
      return
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
    const undoGroups = this.undoGroups
    const undoDrafts = this.undoDrafts
    undoGroups.length = 0
    undoDrafts.length = 0
    let error: WriteError | undefined
    for (const u of updates) {
      const st = this.table.groups.get(u.groupId)
      if (st?.failed !== undefined) {
        error = st.failed
        break
      }
      const before = drafts.get(u.groupId)
      undoGroups.push(u.groupId)
      undoDrafts.push(before)
      const from = before ?? base?.get(u.groupId) ?? durableDraft(st?.meta ?? emptyMeta)
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
    for (let k = undoGroups.length - 1; k >= 0; k--) {
      const d = undoDrafts[k]
      if (d === undefined) drafts.delete(undoGroups[k]!)
      else drafts.set(undoGroups[k]!, d)
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
    this.writeWithFaults((sync) => this.backend.write(batch.handle, sync && batch.sync)).then(
      (failure) => this.finish(batch, failure),
      (e: unknown) => this.crash(e),
    )
  }

  private finish(batch: Batch<B>, failure: StoreError | undefined): void {
    this.inflight--
    if (this.coalesce) this.inflightDrafts = undefined
    else for (const r of batch.requests) for (const g of groupsOf(r)) this.busy.delete(g)
    if (failure !== undefined) {
      this.counters.failedBatches++
      for (const r of batch.requests) this.settle(r, failure)
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
      settle(d)
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
      this.settle(r, undefined)
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
      for (const r of open.requests) this.settle(r, error)
    }
    const backlog = this.backlog
    this.backlog = []
    for (const r of backlog) this.settle(r, error)
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
          this.settle(r, failure)
          if (this.table.stopped !== undefined) this.failQueued(this.table.stopped)
        } else {
          const old = this.table.groups.get(groupId)?.meta.snapshot
          this.table.groups.delete(groupId)
          this.counters.batches++
          this.counters.requests++
          this.settle(r, undefined)
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
    // A bug in the store core: fail everything loudly instead of leaving callers hanging.
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
