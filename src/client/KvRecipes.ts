/**
 * Coordination recipes on the revisioned KV store, after etcd's `concurrency` package: a mutex
 * and a leader election. Each holder owns a lease (kept alive while it holds); its key is
 * attached to the lease, so a holder that dies loses the lock when the lease expires (the
 * leader of the key's shard decides, through the log). Every key of one recipe shares the hash
 * tag `{name}`: one shard, one revision sequence.
 *
 *   yield* Effect.scoped(Effect.gen(function* () {
 *     const held = yield* KvRecipes.lock("jobs", { ttlMs: 5_000 })   // waits for the lock
 *     yield* doWork(held.fencingToken)                              // released at scope end
 *   }))
 *
 * FENCING: a holder paused longer than its TTL may believe it still holds a lock that expired.
 * `fencingToken` (the revision that created the lock key) grows with every new holder: pass it
 * to the resources you guard and let them refuse older tokens (or guard writes in the same
 * shard with a transaction comparing the lock key's `createRevision`).
 */
import { Duration, Effect, Option, Schedule, type Scope, Stream } from "effect"
import type { KvError } from "./ClientErrors.js"
import { toBytes } from "./KvClient.js"
import {
  type Compacted,
  type FutureRevision,
  KvRevClient,
  type Lease,
  type LeaseNotFound,
  type TxnError,
} from "./KvRevClient.js"
import * as KvWatch from "./KvWatch.js"

/** Options of `lock` and `campaign`. */
export interface RecipeOptions {
  /** The holder's lease TTL (default 10 s); kept alive every third of it. */
  readonly ttlMs?: number
}

/** A held lock or leadership. */
export interface Held {
  /** The key that holds it (attached to `lease`). */
  readonly key: Uint8Array
  readonly lease: Lease
  /** The revision that created the key: larger for every later holder. */
  readonly fencingToken: number
}

/** Errors of the recipes. */
export type RecipeError = TxnError | Compacted | FutureRevision | LeaseNotFound | KvError

const ownerKey = (prefix: string, name: string) => `{${name}}/${prefix}`

/** Keeps `lease` alive every third of its TTL until the scope closes; revokes it then. */
const holdLease = (
  name: string,
  ttlMs: number,
): Effect.Effect<Lease, RecipeError, KvRevClient | Scope.Scope> =>
  Effect.gen(function* () {
    const kv = yield* KvRevClient
    const lease = yield* Effect.acquireRelease(kv.grant(`{${name}}`, ttlMs), (l) =>
      Effect.ignore(kv.revoke(l)),
    )
    yield* Effect.forkScoped(
      Effect.ignore(kv.keepAlive(lease)).pipe(
        Effect.repeat(Schedule.spaced(Duration.millis(Math.max(1, ttlMs / 3)))),
      ),
    )
    return lease
  })

/** Waits until `key` is deleted (or was already), from revision `from` on. */
const awaitDeletion = (key: Uint8Array, from: number): Effect.Effect<void, RecipeError, KvRevClient> =>
  Effect.gen(function* () {
    const kv = yield* KvRevClient
    yield* KvWatch.watch(kv.router, key, { exact: true, fromRevision: from }).pipe(
      Stream.filter((e) => e.type === "delete"),
      Stream.take(1),
      Stream.runDrain,
    )
  })

/**
 * Takes `key` for `lease` with `value`, waiting while another lease holds it. Returns the
 * revision that created the key.
 */
const acquire = (
  key: Uint8Array,
  value: Uint8Array,
  lease: Lease,
): Effect.Effect<number, RecipeError, KvRevClient> =>
  Effect.gen(function* () {
    const kv = yield* KvRevClient
    while (true) {
      const r = yield* kv.txn({
        compare: [{ key, target: "version", result: "=", number: 0 }],
        success: [{ op: "put", key, value, lease: lease.id }],
        failure: [{ op: "get", key }],
      })
      if (r.succeeded) return r.revision
      const current = r.results[0]
      if (current?.op === "get" && current.kv !== null) {
        // Ours already (a retried acquisition): keep it.
        if (current.kv.lease === lease.id) return current.kv.createRevision
        yield* awaitDeletion(key, current.kv.modRevision + 1)
      }
    }
  })

/**
 * Takes the mutex `name`, waiting for it; held until the scope closes (then released: its lease
 * is revoked) or until its lease expires (a holder cut off for longer than the TTL).
 */
export const lock = (
  name: string,
  options: RecipeOptions = {},
): Effect.Effect<Held, RecipeError, KvRevClient | Scope.Scope> =>
  Effect.gen(function* () {
    const lease = yield* holdLease(name, options.ttlMs ?? 10_000)
    const key = toBytes(ownerKey("lock", name))
    const fencingToken = yield* acquire(key, toBytes(String(lease.id)), lease)
    return { key, lease, fencingToken }
  })

/** Takes the mutex `name` if it is free, else none; held as with `lock`. */
export const tryLock = (
  name: string,
  options: RecipeOptions = {},
): Effect.Effect<Option.Option<Held>, RecipeError, KvRevClient | Scope.Scope> =>
  Effect.gen(function* () {
    const kv = yield* KvRevClient
    const lease = yield* holdLease(name, options.ttlMs ?? 10_000)
    const key = toBytes(ownerKey("lock", name))
    const r = yield* kv.txn({
      compare: [{ key, target: "version", result: "=", number: 0 }],
      success: [{ op: "put", key, value: String(lease.id), lease: lease.id }],
    })
    return r.succeeded ? Option.some({ key, lease, fencingToken: r.revision }) : Option.none()
  })

/**
 * Campaigns for leadership of election `name` with `value` (what observers see, e.g. an
 * address); returns once elected. Leadership lasts until the scope closes (resign) or the
 * lease expires.
 */
export const campaign = (
  name: string,
  value: string | Uint8Array,
  options: RecipeOptions = {},
): Effect.Effect<Held, RecipeError, KvRevClient | Scope.Scope> =>
  Effect.gen(function* () {
    const lease = yield* holdLease(name, options.ttlMs ?? 10_000)
    const key = toBytes(ownerKey("leader", name))
    const fencingToken = yield* acquire(key, toBytes(value), lease)
    return { key, lease, fencingToken }
  })

/** Changes the leader's value, if `held` still leads; false when it no longer does. */
export const proclaim = (
  held: Held,
  value: string | Uint8Array,
): Effect.Effect<boolean, RecipeError, KvRevClient> =>
  Effect.gen(function* () {
    const kv = yield* KvRevClient
    const r = yield* kv.txn({
      compare: [{ key: held.key, target: "createRevision", result: "=", number: held.fencingToken }],
      success: [{ op: "put", key: held.key, value, lease: held.lease.id }],
    })
    return r.succeeded
  })

/** The current leader's value of election `name`, if there is a leader. */
export const leader = (name: string): Effect.Effect<Option.Option<Uint8Array>, RecipeError, KvRevClient> =>
  Effect.gen(function* () {
    const kv = yield* KvRevClient
    const r = yield* kv.read(ownerKey("leader", name))
    return Option.map(r.kv, (k) => k.value)
  })

/** Every change of leader of election `name` (value, or none when leaderless), from now on. */
export const observe = (name: string): Stream.Stream<Option.Option<Uint8Array>, RecipeError, KvRevClient> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const kv = yield* KvRevClient
      return KvWatch.watch(kv.router, ownerKey("leader", name), { exact: true }).pipe(
        Stream.map((e) => (e.type === "put" ? Option.some(e.value!) : Option.none())),
      )
    }),
  )
