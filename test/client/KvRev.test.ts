/**
 * The revisioned KV client end to end over an in-process cluster (three nodes, four KV shards,
 * real Raft groups): transactions and revisions, compare-and-set by revision, leases with
 * expiry decided by the leader (also across a leader change), and watches that deliver every
 * event exactly once and in order while a shard's leader is stopped and restarted.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Option, Stream } from "effect"
import { KvRevClient } from "../../src/client/KvRevClient.js"
import * as KvWatch from "../../src/client/KvWatch.js"
import * as Router from "../../src/client/Router.js"
import { eventually } from "./support/Eventually.js"
import { groupOf, withCluster } from "./support/KvRevCluster.js"

const text = (b: Uint8Array) => new TextDecoder().decode(b)

describe("KvRevClient over an in-process cluster", () => {
  it.live(
    "transactions, revisions, past reads and compare-and-set by revision",
    () =>
      withCluster((_, client) =>
        Effect.gen(function* () {
          const kv = yield* KvRevClient
          const first = yield* kv.put("{acct}a", "100")
          expect(first.prev).toBeNull()
          const second = yield* kv.put("{acct}a", "90")
          expect(second.revision).toBe(first.revision + 1)
          expect(second.prev?.modRevision).toBe(first.revision)

          const now = yield* kv.read("{acct}a")
          expect(Option.map(now.kv, (k) => [text(k.value), k.version, k.createRevision])).toEqual(
            Option.some(["90", 2, first.revision]),
          )
          const past = yield* kv.read("{acct}a", { revision: first.revision })
          expect(Option.map(past.kv, (k) => text(k.value))).toEqual(Option.some("100"))
          const future = yield* Effect.flip(kv.read("{acct}a", { revision: now.revision + 10 }))
          expect(future._tag).toBe("FutureRevision")

          // A transfer between two accounts of one hash tag: atomic, guarded by mod revisions.
          const t = yield* kv.txn({
            compare: [
              { key: "{acct}a", target: "modRevision", result: "=", number: second.revision },
              { key: "{acct}b", target: "version", result: "=", number: 0 },
            ],
            success: [
              { op: "put", key: "{acct}a", value: "40" },
              { op: "put", key: "{acct}b", value: "50" },
            ],
            failure: [{ op: "get", key: "{acct}a" }],
          })
          expect(t.succeeded).toBe(true)
          expect(t.revision).toBe(second.revision + 1)
          const again = yield* kv.txn({
            compare: [{ key: "{acct}a", target: "modRevision", result: "=", number: second.revision }],
            success: [{ op: "delete", key: "{acct}a" }],
            failure: [{ op: "get", key: "{acct}a" }],
          })
          expect(again.succeeded).toBe(false)
          expect(again.revision).toBe(t.revision)

          // Compare-and-set by revision.
          const cas = yield* kv.casRevision("{acct}b", t.revision, "55")
          expect(cas.revision).toBe(t.revision + 1)
          const conflict = yield* Effect.flip(kv.casRevision("{acct}b", t.revision, "60"))
          expect(conflict._tag).toBe("Conflict")
          yield* kv.casRevision("{acct}new", 0, "created")

          // Keys of different slots: refused before anything is sent.
          const cross = yield* Effect.flip(
            kv.txn({
              success: [
                { op: "put", key: "x", value: "1" },
                { op: "put", key: "y", value: "2" },
              ],
            }),
          )
          expect(cross._tag).toBe("CrossSlot")
        }).pipe(Effect.provide(client)),
      ),
    60_000,
  )

  it.live(
    "leases: keys go when the lease expires, never before its deadline, also across a leader change",
    () =>
      withCluster((cluster, client) =>
        Effect.gen(function* () {
          const kv = yield* KvRevClient
          // Revoke deletes the attached keys.
          const l1 = yield* kv.grant("{s}", 60_000)
          yield* kv.put("{s}k1", "v", { lease: l1 })
          yield* kv.put("{s}k2", "v", { lease: l1 })
          expect((yield* kv.timeToLive(l1)).keys).toBe(2)
          expect(yield* kv.revoke(l1)).toEqual({ deleted: 2 })
          expect(Option.isNone((yield* kv.read("{s}k1")).kv)).toBe(true)
          expect((yield* Effect.flip(kv.keepAlive(l1)))._tag).toBe("LeaseNotFound")

          // Put with a TTL: gone after it, by the leader's decision.
          const started = Date.now()
          yield* kv.put("{s}ttl", "v", { ttlMs: 300 })
          const gone = yield* eventually(kv.read("{s}ttl"), (r) => Option.isNone(r.kv))
          expect(Option.isNone(gone.kv)).toBe(true)
          expect(Date.now() - started).toBeGreaterThanOrEqual(300)

          // Across a leader change: the lease outlives its deadline until the new leader has
          // waited a whole TTL, then goes.
          const ttl = 1_500
          const l2 = yield* kv.grant("{m}", ttl)
          yield* kv.put("{m}held", "v", { lease: l2 })
          const group = yield* groupOf("{m}")
          const leader = Option.getOrThrow(yield* cluster.leaderOf(group))
          const beforeKeepAlive = Date.now()
          yield* kv.keepAlive(l2)
          yield* cluster.stop(leader)
          yield* eventually(cluster.leaderOf(group), Option.isSome)
          const after = yield* eventually(kv.read("{m}held"), (r) => Option.isNone(r.kv))
          expect(Option.isNone(after.kv)).toBe(true)
          expect(Date.now() - beforeKeepAlive).toBeGreaterThanOrEqual(ttl)
          yield* cluster.start(leader)
        }).pipe(Effect.provide(client)),
      ),
    60_000,
  )

  it.live(
    "watch delivers every event exactly once and in revision order across a leader change",
    () =>
      withCluster((cluster, client) =>
        Effect.gen(function* () {
          const kv = yield* KvRevClient
          const router = yield* Router.Router
          const writes = 60
          const keys = Array.from({ length: writes }, (_, i) => `w/${i % 7}`)
          // From revision 1 in every shard: the whole history of the prefix.
          const watcher = yield* Effect.fork(
            KvWatch.watch(router, "w/", { fromRevision: 1, pollInterval: "20 millis" }).pipe(
              Stream.take(writes),
              Stream.runCollect,
            ),
          )
          const victim = yield* groupOf("w/0")
          for (let i = 0; i < writes; i++) {
            yield* kv.put(keys[i]!, `${i}`)
            if (i === writes / 2) {
              const leader = Option.getOrThrow(yield* cluster.leaderOf(victim))
              yield* cluster.stop(leader)
              yield* cluster.start(leader)
            }
          }
          const events = Chunk.toReadonlyArray(yield* Fiber.join(watcher))
          expect(events.map((e) => `${text(e.key)}=${text(e.value!)}`).sort()).toEqual(
            keys.map((k, i) => `${k}=${i}`).sort(),
          )
          const byGroup = new Map<number, number[]>()
          for (const e of events) byGroup.set(e.group, [...(byGroup.get(e.group) ?? []), e.revision])
          for (const revs of byGroup.values()) expect(revs).toEqual([...revs].sort((a, b) => a - b))
          // Per key, values in write order.
          for (const k of new Set(keys)) {
            const seen = events.filter((e) => text(e.key) === k).map((e) => Number(text(e.value!)))
            expect(seen).toEqual([...seen].sort((a, b) => a - b))
          }
        }).pipe(Effect.provide(client)),
      ),
    90_000,
  )
})
