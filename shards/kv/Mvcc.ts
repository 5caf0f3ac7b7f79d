/**
 * The multi-version store of one KV shard: the shard's revision counter, the current record of
 * every live key (create revision, mod revision, version, lease), the retained history of every
 * key for reads at a past revision, and the ordered event log that watches read.
 *
 * REVISIONS: the shard revision starts at 0; every command that changes at least one key moves
 * it up by exactly one (a transaction writing three keys is one revision, its events numbered
 * by `sub` within it). A key's `version` counts its writes since its creation and restarts at 1
 * when a deleted key is created again (etcd's rules).
 *
 * RETENTION: history is compacted by count (revisions older than `revision - maxRevisions`) and
 * by age (revisions stamped more than `maxAgeMs` before the shard clock, the leader-proposed
 * time carried in commands), whichever keeps less. Compacting at `C` keeps every read at a
 * revision `>= C` exact: for each key the newest version at or before `C` stays (unless it is a
 * deletion). Watches may start at any revision `> C`.
 *
 * Pure and deterministic: no clock, no randomness; every input comes from the caller.
 */
import { compare, toHex } from "../../src/runtime/entity/EntityId.js"
import { OrderedMap } from "../../src/runtime/entity/OrderedMap.js"

/** How much history a shard keeps. EVERY REPLICA OF A SHARD MUST USE THE SAME VALUES. */
export interface Retention {
  /** Revisions kept behind the current one (default 10,000). */
  readonly maxRevisions: number
  /** Revisions older than this on the shard clock are compacted (default 10 minutes). */
  readonly maxAgeMs: number
}

/** Default retention: 10,000 revisions and 10 minutes, whichever keeps less. */
export const defaultRetention: Retention = { maxRevisions: 10_000, maxAgeMs: 600_000 }

/** One version of a key: a write (`value` set) or a deletion (`value` null). */
export interface Version {
  readonly key: Uint8Array
  readonly rev: number
  /** Position within its revision (0, 1, ... for the writes of one transaction). */
  readonly sub: number
  readonly value: Uint8Array | null
  /** Revision that created the key (0 for a deletion). */
  readonly create: number
  /** Writes since creation (0 for a deletion). */
  readonly version: number
  /** Lease the key is attached to (0: none). */
  readonly lease: number
}

/** A live key as reads return it. */
export interface KeyValue {
  readonly key: Uint8Array
  readonly value: Uint8Array
  readonly createRevision: number
  readonly modRevision: number
  readonly version: number
  readonly lease: number
}

/** A read at a revision outside `[compacted, revision]`. */
export type RevisionProblem =
  | { readonly _tag: "Compacted"; readonly compacted: number }
  | { readonly _tag: "FutureRevision"; readonly current: number }

const toKeyValue = (v: Version): KeyValue => ({
  key: v.key,
  value: v.value!,
  createRevision: v.create,
  modRevision: v.rev,
  version: v.version,
  lease: v.lease,
})

/** The multi-version store (mutable; one per shard replica). */
export class MvccStore {
  /** Current revision. */
  revision = 0
  /** Compaction point: reads at revisions below it fail. */
  compacted = 0
  /** Live keys, in byte order (scans). */
  readonly live = new OrderedMap<Version>()
  /** Retained versions per key (hex), oldest first; the last one is the current state. */
  private readonly versions = new Map<string, Version[]>()
  /** Retained events (versions with rev > compacted), in (rev, sub) order. */
  private events: Version[] = []
  private eventsHead = 0
  /**
   * Shard-clock time of every retained revision, oldest first, from `timesHead` on (like
   * `events`, the array is cut only now and then: compaction drops about one revision per
   * commit, and copying the whole array each time made every commit cost O(retention)).
   */
  private times: Array<readonly [number, number]> = []
  private timesHead = 0
  /** Events of the revision being written (by `write`), if one is open. */
  private pending: Version[] | undefined

  constructor(readonly retention: Retention = defaultRetention) {}

  /** The current record of `key`, or undefined when absent. */
  get(key: Uint8Array): KeyValue | undefined {
    const v = this.live.get(key)
    return v === undefined ? undefined : toKeyValue(v)
  }

  /** The record of `key` at revision `rev` (undefined: absent then), or why it cannot be read. */
  getAt(key: Uint8Array, rev: number): { readonly kv: KeyValue | undefined } | RevisionProblem {
    const problem = this.checkRevision(rev)
    if (problem !== undefined) return problem
    const list = this.versions.get(toHex(key))
    if (list === undefined) return { kv: undefined }
    for (let i = list.length - 1; i >= 0; i--) {
      const v = list[i]!
      if (v.rev <= rev) return { kv: v.value === null ? undefined : toKeyValue(v) }
    }
    return { kv: undefined }
  }

  /** Why `rev` cannot be read, or undefined when it can. */
  checkRevision(rev: number): RevisionProblem | undefined {
    if (rev < this.compacted) return { _tag: "Compacted", compacted: this.compacted }
    if (rev > this.revision) return { _tag: "FutureRevision", current: this.revision }
    return undefined
  }

  /** Opens a write: the next `put`/`delete` calls share one new revision, stamped `time`. */
  begin(): void {
    this.pending = []
  }

  /** Sets `key`; must be inside `begin`/`commit`. Returns the new version. */
  put(key: Uint8Array, value: Uint8Array, lease: number): Version {
    const pending = this.requirePending()
    const prev = this.live.get(key)
    const v: Version = {
      // The versions of a live key share one key array (each retained version held its own).
      key: prev === undefined ? key : prev.key,
      rev: this.revision + 1,
      sub: pending.length,
      value,
      create: prev === undefined ? this.revision + 1 : prev.create,
      version: prev === undefined ? 1 : prev.version + 1,
      lease,
    }
    this.record(v)
    this.live.set(key, v)
    return v
  }

  /** Deletes `key` if present (inside `begin`/`commit`); returns the previous record. */
  delete(key: Uint8Array): KeyValue | undefined {
    const pending = this.requirePending()
    const prev = this.live.get(key)
    if (prev === undefined) return undefined
    this.record({
      key: prev.key,
      rev: this.revision + 1,
      sub: pending.length,
      value: null,
      create: 0,
      version: 0,
      lease: 0,
    })
    this.live.delete(key)
    return toKeyValue(prev)
  }

  /**
   * Closes the write: when anything was written the revision moves up by one (stamped `time`)
   * and history is compacted by the retention rules. Returns the events written.
   */
  commit(time: number): ReadonlyArray<Version> {
    const pending = this.requirePending()
    this.pending = undefined
    if (pending.length === 0) return pending
    this.revision += 1
    this.times.push([this.revision, time])
    for (const v of pending) this.events.push(v)
    this.compact(time)
    return pending
  }

  /** Events with revision `>= from` (at most `limit`), or why they are gone. */
  eventsFrom(from: number, limit: number): ReadonlyArray<Version> | RevisionProblem {
    if (from <= this.compacted && this.compacted > 0) return { _tag: "Compacted", compacted: this.compacted }
    const out: Version[] = []
    let lo = this.eventsHead
    let hi = this.events.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.events[mid]!.rev < from) lo = mid + 1
      else hi = mid
    }
    for (let i = lo; i < this.events.length && out.length < limit; i++) out.push(this.events[i]!)
    return out
  }

  /** Every retained version, keys in byte order, oldest first (snapshots). */
  *allVersions(): IterableIterator<Version> {
    const keys = [...this.versions.values()].sort((a, b) => compare(a[0]!.key, b[0]!.key))
    for (const list of keys) yield* list
  }

  /** Retained revision times (snapshots). */
  revisionTimes(): ReadonlyArray<readonly [number, number]> {
    return this.timesHead === 0 ? this.times : this.times.slice(this.timesHead)
  }

  /** Rebuilds a store from a snapshot's parts (trusted: the snapshot decoder checked them). */
  static restore(
    retention: Retention,
    revision: number,
    compacted: number,
    times: ReadonlyArray<readonly [number, number]>,
    versions: ReadonlyArray<Version>,
  ): MvccStore {
    const store = new MvccStore(retention)
    store.revision = revision
    store.compacted = compacted
    store.times = [...times]
    for (const v of versions) {
      const h = toHex(v.key)
      const list = store.versions.get(h)
      if (list === undefined) store.versions.set(h, [v])
      else list.push(v)
      if (v.rev > compacted) store.events.push(v)
    }
    for (const list of store.versions.values()) {
      const last = list[list.length - 1]!
      if (last.value !== null) store.live.set(last.key, last)
    }
    store.events.sort((a, b) => a.rev - b.rev || a.sub - b.sub)
    return store
  }

  private requirePending(): Version[] {
    if (this.pending === undefined) throw new Error("MvccStore: write outside begin/commit")
    return this.pending
  }

  private record(v: Version): void {
    this.pending!.push(v)
    const h = toHex(v.key)
    const list = this.versions.get(h)
    if (list === undefined) this.versions.set(h, [v])
    else list.push(v)
  }

  /** Compacts to the newest revision that the count or the age rule lets go. */
  private compact(now: number): void {
    let target = this.revision - this.retention.maxRevisions
    let i = this.timesHead
    while (i < this.times.length && this.times[i]![1] <= now - this.retention.maxAgeMs) i++
    // times[i - 1] is the newest revision old enough: reads at it stay exact after compaction.
    if (i > this.timesHead) target = Math.max(target, this.times[i - 1]![0])
    // The current revision is never compacted away: reads at it are always possible.
    target = Math.min(target, this.revision)
    if (target <= this.compacted) return
    this.compacted = target
    let t = this.timesHead
    while (t < this.times.length && this.times[t]![0] < target) t++
    this.timesHead = t
    if (this.timesHead > 1024 && this.timesHead * 2 > this.times.length) {
      this.times = this.times.slice(this.timesHead)
      this.timesHead = 0
    }
    while (this.eventsHead < this.events.length && this.events[this.eventsHead]!.rev <= target) {
      this.prune(this.events[this.eventsHead]!.key, target)
      this.eventsHead++
    }
    if (this.eventsHead > 1024 && this.eventsHead * 2 > this.events.length) {
      this.events = this.events.slice(this.eventsHead)
      this.eventsHead = 0
    }
  }

  /** Drops the versions of `key` that no read at a revision `>= target` can see. */
  private prune(key: Uint8Array, target: number): void {
    const h = toHex(key)
    const list = this.versions.get(h)
    if (list === undefined) return
    let base = -1
    for (let i = list.length - 1; i >= 0; i--)
      if (list[i]!.rev <= target) {
        base = i
        break
      }
    if (base < 0) return
    const keepFrom = list[base]!.value === null ? base + 1 : base
    if (keepFrom === 0) return
    const rest = list.slice(keepFrom)
    if (rest.length === 0) this.versions.delete(h)
    else this.versions.set(h, rest)
  }
}
