/**
 * Watch against real node processes (managed, three nodes, LevelDB, a real nats-server): a
 * watch of a prefix over every shard, started before the writes, while the node leading the
 * most KV groups is SIGKILLed and restarted. Every acknowledged write arrives exactly once,
 * in revision order per shard; nothing arrives twice.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createKvRevClient } from "../../src/client/KvRevPromise.js"
import type { WatchEvent } from "../../src/client/KvWatch.js"
import { ProcessCluster } from "../../src/testing/ProcessCluster.js"

let cluster: ProcessCluster
const text = (b: Uint8Array | null) => (b === null ? "" : new TextDecoder().decode(b))

const client = () =>
  createKvRevClient({ servers: cluster.nats.url, cluster: cluster.cluster, deadlineMs: 20_000 })

beforeAll(async () => {
  cluster = await ProcessCluster.start({ nodes: 3, managed: {} })
  const created = await cluster.meta({ _tag: "CreateKeyspace", name: "kv", shards: 4 })
  expect(created._tag).toBe("KeyspaceCreated")
  const probe = await client()
  await cluster.waitFor(
    "every KV shard to answer",
    async () => {
      for (let i = 0; i < 16; i++)
        if ((await probe.read(`probe-${i}`).catch(() => undefined)) === undefined) return undefined
      return true
    },
    60_000,
  )
  await probe.close()
}, 120_000)

afterAll(async () => {
  await cluster?.close()
}, 60_000)

describe("watch against real processes", () => {
  it("delivers every acknowledged write exactly once, in order, across a SIGKILL and restart", async () => {
    const watcher = await client()
    const writer = await client()
    const seen: WatchEvent[] = []
    const watching = (async () => {
      for await (const e of watcher.watch("wp/", { fromRevision: 1, pollInterval: "20 millis" })) {
        seen.push(e)
      }
    })()
    const acked = new Set<string>()
    const write = async (i: number) => {
      try {
        await writer.put(`wp/${i % 13}`, `v${i}`)
        acked.add(`wp/${i % 13}=v${i}`)
      } catch (e) {
        if ((e as { _tag?: string })._tag !== "Timeout") throw e
      }
    }
    try {
      for (let i = 0; i < 60; i++) await write(i)
      const leads = await Promise.all(
        cluster.nodes.map(
          async (_, i) =>
            (await cluster.status(i + 1))?.groups.filter((g) => g.groupId !== 0 && g.isLeader).length ?? 0,
        ),
      )
      const victim = leads.indexOf(Math.max(...leads)) + 1
      await cluster.node(victim).kill("SIGKILL")
      for (let i = 60; i < 120; i++) await write(i)
      await cluster.node(victim).start()
      for (let i = 120; i < 180; i++) await write(i)
      await cluster.waitFor(
        "every acknowledged write to be watched",
        async () => {
          const got = new Set(seen.map((e) => `${text(e.key)}=${text(e.value)}`))
          return [...acked].every((a) => got.has(a)) ? true : undefined
        },
        60_000,
        100,
      )
      const ids = seen.map((e) => `${e.group}/${e.revision}/${e.sub}`)
      expect(new Set(ids).size).toBe(ids.length)
      const values = seen.map((e) => `${text(e.key)}=${text(e.value)}`)
      expect(new Set(values).size).toBe(values.length)
      const byGroup = new Map<number, number[]>()
      for (const e of seen) byGroup.set(e.group, [...(byGroup.get(e.group) ?? []), e.revision])
      for (const revs of byGroup.values()) expect(revs).toEqual([...revs].sort((a, b) => a - b))
      expect(byGroup.size).toBeGreaterThan(1)
    } finally {
      await writer.close()
      await watcher.close().catch(() => undefined)
      await watching.catch(() => undefined)
    }
  }, 240_000)
})
