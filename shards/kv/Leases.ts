/**
 * The leases of one KV shard: a lease has a TTL, a deadline on the shard clock, the hash slot it
 * was granted in, and the keys attached to it. Pure bookkeeping; the state machine deletes the
 * keys when a lease ends.
 *
 * Lease ids are assigned by the shard, `max(log index of the grant, last id + 1)`, so an id is
 * never reused in the life of the shard. Deadlines are on the shard clock (leader-proposed
 * time); only the shard leader decides that a lease has expired, by proposing `LeaseExpire`.
 */
import { compare, toHex } from "../../src/runtime/entity/EntityId.js"

/** One lease. */
export interface Lease {
  readonly id: number
  readonly ttlMs: number
  /** The slot it was granted in: only keys of this slot attach to it. */
  readonly slot: number
  /** The key its grant was addressed to (routes the leader's `LeaseExpire`). */
  readonly routeKey: Uint8Array
  /** Shard-clock time after which it may be expired. */
  deadline: number
  /** Attached keys, by hex. */
  readonly keys: Map<string, Uint8Array>
}

/** What the leader needs to schedule expiries. */
export interface LeaseDeadline {
  readonly id: number
  readonly ttlMs: number
  readonly deadline: number
  readonly routeKey: Uint8Array
}

/** The lease table (mutable; one per shard replica). */
export class LeaseTable {
  private readonly leases = new Map<number, Lease>()
  private lastId = 0

  get size(): number {
    return this.leases.size
  }

  get(id: number): Lease | undefined {
    return this.leases.get(id)
  }

  /** Grants a lease at log `index`, shard clock `now`; returns it. */
  grant(index: number, now: number, ttlMs: number, slot: number, routeKey: Uint8Array): Lease {
    const id = Math.max(index, this.lastId + 1)
    this.lastId = id
    const lease: Lease = { id, ttlMs, slot, routeKey, deadline: now + ttlMs, keys: new Map() }
    this.leases.set(id, lease)
    return lease
  }

  /** Restarts the lease's time at `now`. */
  keepAlive(lease: Lease, now: number): void {
    lease.deadline = now + lease.ttlMs
  }

  /** Removes the lease; returns its keys in byte order. */
  remove(lease: Lease): Uint8Array[] {
    this.leases.delete(lease.id)
    return [...lease.keys.values()].sort(compare)
  }

  /** Moves `key` from lease `from` to lease `to` (0: none). */
  reattach(key: Uint8Array, from: number, to: number): void {
    if (from === to) return
    const h = toHex(key)
    if (from !== 0) this.leases.get(from)?.keys.delete(h)
    if (to !== 0) this.leases.get(to)?.keys.set(h, key)
  }

  /** Every lease's deadline (the leader's expiry schedule). */
  deadlines(): LeaseDeadline[] {
    return [...this.leases.values()].map((l) => ({
      id: l.id,
      ttlMs: l.ttlMs,
      deadline: l.deadline,
      routeKey: l.routeKey,
    }))
  }

  /** All leases in id order, and the id counter (snapshots). */
  dump(): { readonly lastId: number; readonly leases: ReadonlyArray<Lease> } {
    return { lastId: this.lastId, leases: [...this.leases.values()].sort((a, b) => a.id - b.id) }
  }

  /** Rebuilds the table from a snapshot's parts (keys are reattached by the caller). */
  static restore(lastId: number, leases: ReadonlyArray<Omit<Lease, "keys">>): LeaseTable {
    const table = new LeaseTable()
    table.lastId = lastId
    for (const l of leases) table.leases.set(l.id, { ...l, keys: new Map() })
    return table
  }
}
