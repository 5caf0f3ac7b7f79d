/**
 * The semantics of the KV shard's operations over its multi-version store and lease table:
 * what each command does and what it answers, as pure functions of the state, the payload and
 * the command's context (log index, shard clock, slot of the addressed key). Each returns an
 * `Outcome`: a success value or a declared failure, THE STATE UNCHANGED ON A FAILURE (every
 * check runs before the first write).
 */
import { compare as compareBytes, display, equals, slotOf } from "../../src/runtime/entity/EntityId.js"
import { MAX_VALUE_BYTES, ValueTooLarge } from "./Kv.js"
import {
  Compacted,
  type Compare,
  CrossSlot,
  type Event,
  FutureRevision,
  type KeyValue,
  LeaseNotFound,
  MAX_TXN_OPS,
  type TxnOp,
  type TxnOpResult,
  TxnTooLarge,
} from "./KvRev.js"
import type { LeaseTable } from "./Leases.js"
import type { MvccStore, Version } from "./Mvcc.js"

/** The state the operations work on. */
export interface KvState {
  readonly store: MvccStore
  readonly leases: LeaseTable
}

/** What a command knows besides its payload. */
export interface ApplyContext {
  readonly index: number
  /** The shard clock (leader-proposed time, ms). */
  readonly time: number
  /** Slot of the key the request is addressed to. */
  readonly slot: number
}

/** A success value or a declared failure. */
export type Outcome<A> =
  | { readonly ok: true; readonly value: A }
  | { readonly ok: false; readonly error: unknown }

const ok = <A>(value: A): Outcome<A> => ({ ok: true, value })
const fail = (error: unknown): Outcome<never> => ({ ok: false, error })

const keyValueOf = (store: MvccStore, key: Uint8Array): KeyValue | null => store.get(key) ?? null

/** Runs `write` as one revision (no revision when it writes nothing); returns its events. */
export const inRevision = (state: KvState, time: number, write: () => void): ReadonlyArray<Version> => {
  state.store.begin()
  write()
  return state.store.commit(time)
}

/** Sets `key` (lease 0: none), moving its lease attachment; returns the previous record. */
const putKey = (state: KvState, key: Uint8Array, value: Uint8Array, lease: number): KeyValue | null => {
  const prev = keyValueOf(state.store, key)
  state.store.put(key, value, lease)
  state.leases.reattach(key, prev?.lease ?? 0, lease)
  return prev
}

const deleteKey = (state: KvState, key: Uint8Array): KeyValue | null => {
  const prev = state.store.delete(key)
  if (prev !== undefined) state.leases.reattach(key, prev.lease, 0)
  return prev ?? null
}

// ---------------------------------------------------------------------------- basic operations

/** `Put`: sets the value, detaching any lease. */
export const put = (state: KvState, key: Uint8Array, value: Uint8Array, time: number) => {
  if (value.length > MAX_VALUE_BYTES)
    return fail(new ValueTooLarge({ size: value.length, limit: MAX_VALUE_BYTES }))
  let created = false
  inRevision(state, time, () => {
    created = putKey(state, key, value, 0) === null
  })
  return ok({ created })
}

/** `Delete`: removes the key. */
export const remove = (state: KvState, key: Uint8Array, time: number) => {
  let deleted = false
  inRevision(state, time, () => {
    deleted = deleteKey(state, key) !== null
  })
  return ok({ deleted })
}

/** `Cas`: compare-and-set by value. */
export const cas = (
  state: KvState,
  key: Uint8Array,
  expected: Uint8Array | null,
  value: Uint8Array | null,
  time: number,
) => {
  if (value !== null && value.length > MAX_VALUE_BYTES)
    return fail(new ValueTooLarge({ size: value.length, limit: MAX_VALUE_BYTES }))
  const current = state.store.get(key)?.value ?? null
  const same = current === null || expected === null ? current === expected : equals(current, expected)
  if (!same) return ok({ succeeded: false as const, current })
  inRevision(state, time, () => {
    if (value === null) deleteKey(state, key)
    else putKey(state, key, value, state.store.get(key)?.lease ?? 0)
  })
  return ok({ succeeded: true as const })
}

// -------------------------------------------------------------------------------- transactions

const holds = (state: KvState, c: Compare): boolean => {
  const kv = state.store.get(c.key)
  const order = (d: number) =>
    c.result === "=" ? d === 0 : c.result === "!=" ? d !== 0 : c.result === "<" ? d < 0 : d > 0
  if (c.target === "value") {
    const current = kv?.value ?? null
    if (current === null || c.value === null) {
      const same = current === c.value
      return c.result === "=" ? same : c.result === "!=" ? !same : false
    }
    return order(compareBytes(current, c.value))
  }
  const n =
    kv === undefined
      ? 0
      : c.target === "modRevision"
        ? kv.modRevision
        : c.target === "createRevision"
          ? kv.createRevision
          : c.target === "version"
            ? kv.version
            : kv.lease
  return order(n - c.number)
}

/** The first check a transaction fails, before anything is written. */
const checkTxn = (
  ctx: ApplyContext,
  compares: ReadonlyArray<Compare>,
  branches: ReadonlyArray<ReadonlyArray<TxnOp>>,
): unknown => {
  for (const n of [compares.length, ...branches.map((b) => b.length)])
    if (n > MAX_TXN_OPS) return new TxnTooLarge({ count: n, limit: MAX_TXN_OPS })
  const keys = [...compares.map((c) => c.key), ...branches.flatMap((b) => b.map((o) => o.key))]
  for (const key of keys) {
    const slot = slotOf(key)
    if (slot !== ctx.slot) return new CrossSlot({ key: display(key), slot, expectedSlot: ctx.slot })
  }
  for (const branch of branches)
    for (const o of branch)
      if (o.op === "put" && o.value.length > MAX_VALUE_BYTES)
        return new ValueTooLarge({ size: o.value.length, limit: MAX_VALUE_BYTES })
  return undefined
}

/** The lease a branch refers to that does not exist in this slot, if any. */
const missingLease = (
  state: KvState,
  ctx: ApplyContext,
  ops: ReadonlyArray<TxnOp>,
): LeaseNotFound | undefined => {
  for (const o of ops) {
    if (o.op !== "put" || (o.lease ?? 0) === 0 || o.ttlMs !== undefined) continue
    const lease = state.leases.get(o.lease!)
    if (lease === undefined || lease.slot !== ctx.slot) return new LeaseNotFound({ lease: o.lease! })
  }
  return undefined
}

/** `Txn`: compare, then one branch, atomically, as one revision. */
export const txn = (
  state: KvState,
  ctx: ApplyContext,
  payload: {
    readonly compare: ReadonlyArray<Compare>
    readonly success: ReadonlyArray<TxnOp>
    readonly failure: ReadonlyArray<TxnOp>
  },
) => {
  const invalid = checkTxn(ctx, payload.compare, [payload.success, payload.failure])
  if (invalid !== undefined) return fail(invalid)
  const succeeded = payload.compare.every((c) => holds(state, c))
  const ops = succeeded ? payload.success : payload.failure
  const missing = missingLease(state, ctx, ops)
  if (missing !== undefined) return fail(missing)
  const results: TxnOpResult[] = []
  inRevision(state, ctx.time, () => {
    for (const o of ops) {
      if (o.op === "get") results.push({ op: "get", kv: keyValueOf(state.store, o.key) })
      else if (o.op === "delete") results.push({ op: "delete", prev: deleteKey(state, o.key) })
      else {
        const lease =
          o.ttlMs === undefined
            ? (o.lease ?? 0)
            : state.leases.grant(ctx.index, ctx.time, o.ttlMs, ctx.slot, o.key).id
        results.push({ op: "put", prev: putKey(state, o.key, o.value, lease), lease })
      }
    }
  })
  return ok({ succeeded, revision: state.store.revision, results })
}

// ------------------------------------------------------------------------------------ leases

const leaseIn = (state: KvState, ctx: ApplyContext, id: number) => {
  const lease = state.leases.get(id)
  return lease !== undefined && lease.slot === ctx.slot ? lease : undefined
}

/** Ends a lease: deletes its keys as one revision; returns how many were deleted. */
const endLease = (state: KvState, lease: NonNullable<ReturnType<LeaseTable["get"]>>): Uint8Array[] => {
  const keys = state.leases.remove(lease)
  for (const key of keys) state.store.delete(key)
  return keys
}

export const leaseGrant = (state: KvState, ctx: ApplyContext, addressed: Uint8Array, ttlMs: number) => {
  const lease = state.leases.grant(ctx.index, ctx.time, ttlMs, ctx.slot, addressed)
  return ok({ lease: lease.id, ttlMs })
}

export const leaseKeepAlive = (state: KvState, ctx: ApplyContext, id: number) => {
  const lease = leaseIn(state, ctx, id)
  if (lease === undefined) return fail(new LeaseNotFound({ lease: id }))
  state.leases.keepAlive(lease, ctx.time)
  return ok({ ttlMs: lease.ttlMs })
}

export const leaseRevoke = (state: KvState, ctx: ApplyContext, id: number) => {
  const lease = leaseIn(state, ctx, id)
  if (lease === undefined) return fail(new LeaseNotFound({ lease: id }))
  let deleted = 0
  inRevision(state, ctx.time, () => {
    deleted = endLease(state, lease).length
  })
  return ok({ revision: state.store.revision, deleted })
}

/** `LeaseExpire`: ends the named leases whose deadline the command's time has passed. */
export const leaseExpire = (state: KvState, ctx: ApplyContext, ids: ReadonlyArray<number>) => {
  const expired: number[] = []
  inRevision(state, ctx.time, () => {
    for (const id of ids) {
      const lease = state.leases.get(id)
      if (lease === undefined || lease.deadline > ctx.time || expired.includes(id)) continue
      endLease(state, lease)
      expired.push(id)
    }
  })
  return ok({ expired, revision: state.store.revision })
}

export const leaseTimeToLive = (state: KvState, ctx: ApplyContext, id: number) => {
  const lease = leaseIn(state, ctx, id)
  if (lease === undefined) return fail(new LeaseNotFound({ lease: id }))
  return ok({
    ttlMs: lease.ttlMs,
    remainingMs: Math.max(0, lease.deadline - ctx.time),
    keys: lease.keys.size,
  })
}

// --------------------------------------------------------------------------------------- reads

/** `Read`: the key now or at a past revision. */
export const read = (state: KvState, key: Uint8Array, revision: number | null) => {
  if (revision === null) return ok({ revision: state.store.revision, kv: keyValueOf(state.store, key) })
  const at = state.store.getAt(key, revision)
  if ("kv" in at) return ok({ revision: state.store.revision, kv: at.kv ?? null })
  return fail(
    at._tag === "Compacted"
      ? new Compacted({ requested: revision, compacted: at.compacted })
      : new FutureRevision({ requested: revision, current: at.current }),
  )
}

/** Budget of the values of one `Events` page (whole revisions, at least one). */
export const EVENTS_PAGE_BYTES = 512 * 1024

const eventOf = (v: Version): Event => ({
  type: v.value === null ? "delete" : "put",
  key: v.key,
  value: v.value,
  revision: v.rev,
  sub: v.sub,
  createRevision: v.create,
  version: v.version,
  lease: v.lease,
})

const startsWith = (key: Uint8Array, prefix: Uint8Array): boolean =>
  key.length >= prefix.length && prefix.every((b, i) => key[i] === b)

/**
 * `Events`: the events of revisions `>= from` whose key starts with `prefix`, whole revisions
 * only, up to `limit` events or `EVENTS_PAGE_BYTES` of values (at least one revision).
 */
export const events = (state: KvState, from: number, prefix: Uint8Array, limit: number) => {
  const store = state.store
  const all = store.eventsFrom(Math.max(from, 1), Number.MAX_SAFE_INTEGER)
  if (!Array.isArray(all)) return fail(new Compacted({ requested: from, compacted: store.compacted }))
  const out: Event[] = []
  let bytes = 0
  let next = Math.max(from, store.revision + 1)
  for (let i = 0; i < all.length; i++) {
    const v = all[i]!
    const firstOfRevision = i === 0 || all[i - 1]!.rev !== v.rev
    if (firstOfRevision && (out.length >= limit || bytes >= EVENTS_PAGE_BYTES) && out.length > 0) {
      next = v.rev
      break
    }
    if (!startsWith(v.key, prefix)) continue
    out.push(eventOf(v))
    bytes += v.value?.length ?? 0
  }
  return ok({ events: out, next, revision: store.revision })
}
