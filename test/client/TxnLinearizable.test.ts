/**
 * Transactions and revision-based compare-and-set under concurrency and crashes: eight clients
 * of an in-process cluster run the register workload of `CasWorkload` through `Txn` (a CAS by
 * value is a transaction comparing the value; its failure branch reads the current one), and
 * through `casRevision` (read the mod revision, then swap if it is unchanged), while the leader
 * of the keys' shard is stopped and restarted; the histories must be linearizable.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { Kv } from "../../shards/kv/Kv.js"
import { layer as revLayer } from "../../src/client/KvRevClient.js"
import * as KvRevPromise from "../../src/client/KvRevPromise.js"
import { slotOf } from "../../src/runtime/entity/EntityId.js"
import { assertLinearizable, type RegisterClient, runCasWorkload } from "./support/CasWorkload.js"
import * as MemoryCluster from "./support/MemoryCluster.js"

const text = (b: Uint8Array | null | undefined) => (b == null ? null : new TextDecoder().decode(b))

/** A register over transactions: put, get and CAS by value, each one `Txn`. */
const txnRegister = (c: KvRevPromise.KvRevPromiseClient): RegisterClient => ({
  get: async (key) => text((await c.read(key)).kv?.value),
  put: async (key, value) => void (await c.txn({ success: [{ op: "put", key, value }] })),
  cas: async (key, expected, value) => {
    const r = await c.txn({
      compare: [{ key, target: "value", result: "=", value: expected }],
      success: [{ op: "put", key, value }],
      failure: [{ op: "get", key }],
    })
    if (r.succeeded) return { ok: true }
    const got = r.results[0]
    return { ok: false, current: got?.op === "get" ? text(got.kv?.value) : null }
  },
})

/**
 * A register whose CAS is by revision: read the key's mod revision and value; if the value is
 * not the expected one, that is the answer; else swap if the mod revision is unchanged, and on
 * a conflict report the value found then.
 */
const revisionRegister = (c: KvRevPromise.KvRevPromiseClient): RegisterClient => ({
  ...txnRegister(c),
  cas: async (key, expected, value) => {
    const r = await c.txn({ success: [{ op: "get", key }] })
    const got = r.results[0]
    const kv = got?.op === "get" ? got.kv : null
    if (text(kv?.value) !== expected) return { ok: false, current: text(kv?.value) }
    try {
      await c.casRevision(key, kv?.modRevision ?? 0, value)
      return { ok: true }
    } catch (e) {
      const err = e as { _tag?: string; current?: Uint8Array | null }
      if (err._tag === "Conflict") return { ok: false, current: text(err.current) }
      throw e
    }
  },
})

const run = (register: (c: KvRevPromise.KvRevPromiseClient) => RegisterClient, seed: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const cluster = yield* MemoryCluster.make({ kinds: [Kv], shards: 2 })
      const clients = yield* MemoryCluster.promiseClients(cluster, 8, (router) =>
        KvRevPromise.fromLayer(revLayer.pipe(Layer.provide(router))),
      )
      const keys = ["{r}x", "{r}y", "{r}z"]
      const groups = cluster.groupsOf("kv")
      const slot = slotOf(new TextEncoder().encode("{r}"))
      const group = groups[Math.floor((slot * groups.length) / 16384)]!
      const chaos = Effect.gen(function* () {
        yield* Effect.sleep("300 millis")
        const leader = Option.getOrThrow(yield* cluster.leaderOf(group))
        yield* cluster.stop(leader)
        yield* Effect.sleep("400 millis")
        yield* cluster.start(leader)
      })
      const [history] = yield* Effect.all(
        [Effect.promise(() => runCasWorkload(clients.map(register), keys, 30, seed)), chaos],
        { concurrency: "unbounded" },
      )
      expect(history.failed).toBe(0)
      expect(history.swaps).toBeGreaterThan(5)
      assertLinearizable(history)
    }),
  )

describe("transactions under concurrency and a leader crash", () => {
  it.live("CAS by value through Txn gives a linearizable history", () => run(txnRegister, 7), 120_000)
  it.live("CAS by mod revision gives a linearizable history", () => run(revisionRegister, 11), 120_000)
})
