/**
 * The clients against real node processes (`flotilla start`, managed: one bootstraps, two
 * join) over a real nats-server with LevelDB stores:
 *
 * - the KV API end to end from the Effect client, the Promise client and raw NATS requests to
 *   the gateway on `flotilla.<c>.kv`;
 * - concurrent compare-and-set from many clients (Promise clients and raw gateway requests),
 *   the history recorded and checked for linearizability;
 * - SIGKILL of the node leading the most KV groups during a write workload: every acknowledged
 *   write is readable afterwards, and none was applied twice (every acknowledged put of a
 *   fresh key reports `created: true`: a put applied again would report `false`).
 */
import { Effect, Layer, Option } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as KvClient from "../../src/client/KvClient.js"
import { createKvClient, type KvPromiseClient } from "../../src/client/PromiseClient.js"
import * as Router from "../../src/client/Router.js"
import { ProcessCluster } from "../../src/testing/ProcessCluster.js"
import { assertLinearizable, type RegisterClient, runCasWorkload } from "./support/CasWorkload.js"
import { eventually } from "./support/Eventually.js"

const text = (b: Uint8Array | null | undefined) => (b == null ? null : new TextDecoder().decode(b))
const encoder = new TextEncoder()
const decoder = new TextDecoder()

let cluster: ProcessCluster

/** A request to the gateway, decoded. */
const gateway = async (body: object, timeoutMs = 8000): Promise<Record<string, unknown>> => {
  const reply = await cluster.client.request(
    `flotilla.${cluster.cluster}.kv`,
    encoder.encode(JSON.stringify(body)),
    {
      timeout: timeoutMs,
    },
  )
  return JSON.parse(decoder.decode(reply.data)) as Record<string, unknown>
}

const promiseClient = () =>
  createKvClient({ servers: cluster.nats.url, cluster: cluster.cluster, deadlineMs: 20_000 })

beforeAll(async () => {
  cluster = await ProcessCluster.start({ nodes: 3, managed: {} })
  const created = await cluster.meta({ _tag: "CreateKeyspace", name: "kv", shards: 4 })
  expect(created._tag).toBe("KeyspaceCreated")
  // Ready when every shard answers through the gateway.
  await cluster.waitFor(
    "every KV shard to answer",
    async () => {
      for (let i = 0; i < 16; i++) {
        const r = await gateway({ op: "get", key: `probe-${i}`, timeoutMs: 1000 }, 3000).catch(
          () => undefined,
        )
        if (r?.ok !== true) return undefined
      }
      return true
    },
    60_000,
  )
}, 120_000)

afterAll(async () => {
  await cluster?.close()
}, 60_000)

describe("clients against real processes and a real nats-server", () => {
  it("the Effect client: get, put, delete, cas, scan", async () => {
    const program = Effect.gen(function* () {
      const kv = yield* KvClient.KvClient
      expect(yield* kv.get("e-a")).toEqual(Option.none())
      expect(yield* kv.put("e-a", "1")).toEqual({ created: true })
      expect(Option.map(yield* kv.get("e-a"), text)).toEqual(Option.some("1"))
      yield* kv.cas("e-a", "1", "2")
      const conflict = yield* Effect.flip(kv.cas("e-a", "1", "3"))
      expect(conflict).toMatchObject({ _tag: "Conflict" })
      for (let i = 0; i < 30; i++) yield* kv.put(`e-scan-${String(i).padStart(2, "0")}`, `${i}`)
      const keys: string[] = []
      let after: Uint8Array | undefined
      for (;;) {
        const page = yield* kv.scan({ prefix: "e-scan-", limit: 8, after })
        keys.push(...page.entries.map((e) => text(e.key)!))
        if (Option.isNone(page.continuation)) break
        after = page.continuation.value
      }
      expect(keys).toEqual(Array.from({ length: 30 }, (_, i) => `e-scan-${String(i).padStart(2, "0")}`))
      expect(yield* kv.delete("e-a")).toEqual({ deleted: true })
      // Stale reads (answered by any replica) catch up with the delete.
      const stale = yield* eventually(kv.get("e-a", { staleRead: true }), Option.isNone)
      expect(stale).toEqual(Option.none())
      expect((yield* (yield* Router.Router).stats).replicaReads).toBeGreaterThan(0)
    })
    await Effect.runPromise(
      program.pipe(
        Effect.provide(
          Layer.provideMerge(
            KvClient.layer,
            Router.layerNats({ cluster: cluster.cluster, nats: { servers: cluster.nats.url } }),
          ),
        ),
        Effect.scoped,
      ),
    )
  }, 60_000)

  it("the Promise client: get, put, delete, cas, scan", async () => {
    const kv = await promiseClient()
    try {
      expect(await kv.get("p-a")).toBeUndefined()
      expect(await kv.put("p-a", "x")).toEqual({ created: true })
      expect(await kv.getText("p-a")).toBe("x")
      expect(await kv.cas("p-a", "x", "y")).toEqual({ succeeded: true })
      const failed = await kv.cas("p-a", "x", "z")
      expect(failed.succeeded).toBe(false)
      expect((await kv.scan({ prefix: "p-" })).entries.map((e) => text(e.key))).toEqual(["p-a"])
      expect(await kv.delete("p-a")).toEqual({ deleted: true })
      await expect(kv.put("", "v")).rejects.toMatchObject({ _tag: "InvalidRequest" })
    } finally {
      await kv.close()
    }
  }, 60_000)

  it("raw NATS requests to the gateway, including bad ones", async () => {
    expect(await gateway({ op: "put", key: "g-a", value: "1" })).toEqual({ ok: true, created: true })
    expect(await gateway({ op: "get", key: "g-a" })).toEqual({ ok: true, value: "1" })
    expect(await gateway({ op: "cas", key: "g-a", expected: "1", value: "2" })).toEqual({ ok: true })
    expect(await gateway({ op: "cas", key: "g-a", expected: "1", value: "3" })).toMatchObject({
      ok: false,
      error: "Conflict",
      current: "2",
    })
    expect(await gateway({ op: "scan", prefix: "g-" })).toEqual({
      ok: true,
      entries: [{ key: "g-a", value: "2" }],
      continuation: null,
    })
    expect(await gateway({ op: "delete", key: "g-a" })).toEqual({ ok: true, deleted: true })
    expect(await gateway({ op: "frobnicate", key: "g-a" })).toMatchObject({ ok: false, error: "BadRequest" })
    expect(await gateway({ op: "put", key: "g-a" })).toMatchObject({ ok: false, error: "BadRequest" })
    // Every node still serves after the bad requests.
    for (const n of cluster.nodes) expect(n.running).toBe(true)
  }, 60_000)

  it("concurrent compare-and-set from many clients is linearizable", async () => {
    const promises: KvPromiseClient[] = await Promise.all(Array.from({ length: 5 }, promiseClient))
    try {
      const viaPromise: RegisterClient[] = promises.map((c) => ({
        get: async (key) => text(await c.get(key)),
        put: async (key, value) => void (await c.put(key, value)),
        cas: async (key, expected, value) => {
          const r = await c.cas(key, expected, value)
          return r.succeeded ? { ok: true } : { ok: false, current: text(r.current) }
        },
      }))
      const rawCall = async (body: object) => {
        let r: Record<string, unknown>
        try {
          r = await gateway({ ...body, timeoutMs: 10_000 }, 15_000)
        } catch {
          throw { _tag: "Timeout" }
        }
        if (r.ok === true || r.error === "Conflict") return r
        throw { _tag: r.error }
      }
      const viaGateway: RegisterClient[] = Array.from({ length: 3 }, () => ({
        get: async (key) => (await rawCall({ op: "get", key })).value as string | null,
        put: async (key, value) => void (await rawCall({ op: "put", key, value })),
        cas: async (key, expected, value) => {
          const r = await rawCall({ op: "cas", key, expected, value })
          return r.ok === true ? { ok: true } : { ok: false, current: r.current as string | null }
        },
      }))
      const run = await runCasWorkload([...viaPromise, ...viaGateway], ["cas-x", "cas-y", "cas-z"], 30, 7)
      expect(run.swaps).toBeGreaterThan(5)
      expect(run.conflicts).toBeGreaterThan(0)
      assertLinearizable(run)
    } finally {
      await Promise.all(promises.map((c) => c.close()))
    }
  }, 120_000)

  it("SIGKILL of a leader during writes: every acknowledged write survives, none applied twice", async () => {
    const clients = await Promise.all(Array.from({ length: 4 }, promiseClient))
    const acked = new Map<string, string>()
    const duplicates: string[] = []
    let unknown = 0
    let stop = false
    const writer = async (kv: KvPromiseClient, w: number) => {
      for (let i = 0; !stop; i++) {
        const key = `kill-${w}-${i}`
        try {
          const r = await kv.put(key, `v-${key}`)
          if (!r.created) duplicates.push(key)
          acked.set(key, `v-${key}`)
        } catch (e) {
          if ((e as { _tag?: string })._tag !== "Timeout") throw e
          unknown++
        }
      }
    }
    try {
      const writers = clients.flatMap((kv, c) => [writer(kv, c * 2), writer(kv, c * 2 + 1)])
      await cluster.waitFor("some writes", async () => (acked.size >= 50 ? true : undefined), 30_000, 50)

      // The node leading the most KV groups.
      const leads = await Promise.all(
        cluster.nodes.map(async (_, i) => {
          const st = await cluster.status(i + 1)
          return st?.groups.filter((g) => g.groupId !== 0 && g.isLeader).length ?? 0
        }),
      )
      const victim = leads.indexOf(Math.max(...leads)) + 1
      expect(leads[victim - 1]).toBeGreaterThan(0)
      const before = acked.size
      await cluster.node(victim).kill("SIGKILL")
      await cluster.waitFor(
        "writes after the kill",
        async () => (acked.size >= before + 100 ? true : undefined),
        60_000,
        50,
      )
      await cluster.node(victim).start()
      await cluster.waitFor(
        "more writes after the restart",
        async () => (acked.size >= before + 150 ? true : undefined),
        60_000,
        50,
      )
      stop = true
      await Promise.all(writers)

      expect(duplicates).toEqual([])
      const reader = clients[0]!
      const missing: string[] = []
      const keys = [...acked.keys()]
      for (let i = 0; i < keys.length; i += 64) {
        await Promise.all(
          keys.slice(i, i + 64).map(async (key) => {
            if ((await reader.getText(key)) !== acked.get(key)) missing.push(key)
          }),
        )
      }
      expect(missing).toEqual([])
      expect(unknown).toBeLessThan(acked.size)
    } finally {
      stop = true
      await Promise.all(clients.map((c) => c.close()))
    }
  }, 180_000)
})
