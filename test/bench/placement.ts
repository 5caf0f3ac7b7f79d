/**
 * bench:placement — rebalancing with real processes on this machine: a nats-server, 3 node
 * processes of a managed cluster (node 1 bootstraps, the others join; LevelDB, fsync on), a
 * keyspace of 300 shards with R = 3, loaded with about 1 MiB per shard (16 KV puts of 64 KiB
 * each, keys chosen per shard); then 2 nodes join and the placement driver rebalances while a
 * client workload (small puts through a shard-map router with retries, KvWorkload.ts) runs.
 *
 *   {"bench":"rebalance","shards":300,"secondsToBalanced":…,"movesDone":…,"clientErrors":…,"p99MsDuringMoves":…}
 *
 * - secondsToBalanced: from the start of the first new node until every node's shard replica
 *   count and shard leader count (leader hints the driver records from the nodes' reports) are
 *   within ±1 of the mean and no operator is in flight (polled every 250 ms);
 * - movesDone: replica moves that finished `succeeded` in that time (seen finishing by polling
 *   the operator list);
 * - clientErrors: workload requests that failed after retries within their 30 s deadline;
 * - p99MsDuringMoves: the workload's put latency (retries included) for requests that started
 *   between the first new node's start and balance.
 *
 * The workload and the loader run in this process. The cluster uses `--report-ms 250
 * --placement-ms 200` and the cluster settings below (printed with --verbose).
 *
 *   npm run bench:placement [-- --json] [--shards 300] [--mib-per-shard 1] [--writers 16] [--timeout 600]
 */

import { parseArgs } from "node:util"
import { Histogram } from "../../src/cli/Histogram.js"
import type { GroupRecord, Keyspace } from "../../src/meta/ClusterState.js"
import { shardOfSlot } from "../../src/meta/Slots.js"
import { nodeOfReplica } from "../../src/raft/Ids.js"
import * as EntityId from "../../src/runtime/entity/EntityId.js"
import { ProcessCluster } from "../../src/testing/ProcessCluster.js"
import { KvRouter, Workload } from "../placement/KvWorkload.js"
import { numberOption, printResults } from "./BenchUtil.js"

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    shards: { type: "string", default: "300" },
    "mib-per-shard": { type: "string", default: "1" },
    "value-kib": { type: "string", default: "64" },
    writers: { type: "string", default: "16" },
    "load-concurrency": { type: "string", default: "32" },
    timeout: { type: "string", default: "600" },
    verbose: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
})
const log = (s: string) => console.error(`[bench:placement] ${s}`)
const SHARDS = numberOption("shards", args.shards)
const VALUE_BYTES = numberOption("value-kib", args["value-kib"]) * 1024
const PER_SHARD = Math.max(
  1,
  Math.round((numberOption("mib-per-shard", args["mib-per-shard"]) * 1024 * 1024) / VALUE_BYTES),
)
const WRITERS = numberOption("writers", args.writers)
const LOAD_CONCURRENCY = numberOption("load-concurrency", args["load-concurrency"])
const TIMEOUT_MS = numberOption("timeout", args.timeout) * 1000

const clusterSettings = {
  heartbeatTimeoutMs: 10_000,
  downTimeoutMs: 60_000,
  operatorTimeoutMs: 300_000,
  transferTimeoutMs: 30_000,
  maxOperatorsPerNode: 16,
  maxOperatorsPerCluster: 64,
}

interface MetaView {
  readonly groups: ReadonlyArray<GroupRecord>
  readonly keyspaces: ReadonlyArray<Keyspace>
}

const within = (counts: number[]) => {
  const mean = counts.reduce((a, b) => a + b, 0) / counts.length
  return counts.every((c) => Math.abs(c - mean) <= 1)
}

const main = async () => {
  const c = await ProcessCluster.start({
    nodes: 3,
    cluster: "bench",
    managed: { clusterSettings },
    nodeArgs: ["--report-ms", "250", "--placement-ms", "200"],
  })
  try {
    if (args.verbose) log(`cluster settings ${JSON.stringify(clusterSettings)}`)
    const created = await c.meta({ _tag: "CreateKeyspace", name: "kv", shards: SHARDS, replicationFactor: 3 })
    if (created._tag !== "KeyspaceCreated") throw new Error(JSON.stringify(created))
    const router = new KvRouter(c.client, c.cluster, "kv", 10_000)
    await router.refresh()

    // Keys per shard: candidates until each shard has PER_SHARD of them.
    const ks = router.map!.keyspaces.find((k) => k.name === "kv")! as Keyspace
    const perGroup = new Map<number, string[]>()
    for (let i = 0; perGroup.size < SHARDS || [...perGroup.values()].some((k) => k.length < PER_SHARD); i++) {
      const key = `load-${i}`
      const g = shardOfSlot(ks, EntityId.slotOf(EntityId.make(key)))!.group
      const list = perGroup.get(g) ?? []
      if (list.length < PER_SHARD) list.push(key)
      perGroup.set(g, list)
    }
    const keys = [...perGroup.values()].flat()
    const value = new Uint8Array(VALUE_BYTES).fill(0x61)
    const loadStart = Date.now()
    let next = 0
    let loadErrors = 0
    await Promise.all(
      Array.from({ length: LOAD_CONCURRENCY }, async () => {
        for (;;) {
          const k = keys[next++]
          if (k === undefined) return
          const r = await router.put(k, value, 120_000)
          if (!r.ok) loadErrors++
        }
      }),
    )
    if (loadErrors > 0) throw new Error(`${loadErrors} load puts failed`)
    log(
      `loaded ${keys.length} values of ${VALUE_BYTES} bytes (${((keys.length * VALUE_BYTES) / 2 ** 20).toFixed(0)} MiB) in ${((Date.now() - loadStart) / 1000).toFixed(1)} s`,
    )

    const workload = new Workload(router, { writers: WRITERS, prefix: "bench", pauseMs: 2 })
    workload.start()
    await new Promise((r) => setTimeout(r, 2_000))

    // Moves seen in flight, and those seen finishing as succeeded.
    const seen = new Map<number, string>()
    const succeeded = new Set<number>()
    let polling = true
    const poller = (async () => {
      while (polling) {
        try {
          const ops = (await c.meta({ _tag: "GetOperators", history: true }, 10_000)) as unknown as {
            inFlight: Array<{ id: number; spec: { _tag: string } }>
            history: Array<{ id: number; spec: { _tag: string }; status: string }>
          }
          for (const op of ops.inFlight) seen.set(op.id, op.spec._tag)
          for (const h of ops.history)
            if (seen.has(h.id) && h.spec._tag === "MoveReplica" && h.status === "succeeded")
              succeeded.add(h.id)
        } catch {
          // the metadata leader may be moving
        }
        await new Promise((r) => setTimeout(r, 250))
      }
    })()

    const t0 = Date.now()
    const first = await c.addNode()
    const second = await c.addNode()
    log(`nodes ${first} and ${second} joined in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    const live = [1, 2, 3, first, second]
    const balancedAt = await c.waitFor(
      "a balanced cluster",
      async () => {
        const map = (await c.meta({ _tag: "GetShardMap" }, 10_000)) as unknown as MetaView
        const ops = (await c.meta({ _tag: "GetOperators" }, 10_000)) as unknown as { inFlight: unknown[] }
        if (ops.inFlight.length > 0) return undefined
        const replicas = new Map(live.map((n) => [n, 0]))
        const leaders = new Map(live.map((n) => [n, 0]))
        for (const g of map.groups) {
          if (g.id === 0) continue
          if (g.replicas.length !== 3 || g.replicas.some((r) => r.role !== "voter")) return undefined
          for (const r of g.replicas)
            replicas.set(nodeOfReplica(r.id), (replicas.get(nodeOfReplica(r.id)) ?? 0) + 1)
          if (g.leaderHint === 0) return undefined
          leaders.set(nodeOfReplica(g.leaderHint), (leaders.get(nodeOfReplica(g.leaderHint)) ?? 0) + 1)
        }
        if (args.verbose) log(`replicas ${[...replicas.values()]} leaders ${[...leaders.values()]}`)
        return within([...replicas.values()]) && within([...leaders.values()]) ? Date.now() : undefined
      },
      TIMEOUT_MS,
      250,
    )
    polling = false
    await poller
    await workload.stop()
    const during = new Histogram()
    for (const l of workload.latencies)
      if (l.at - l.ms >= t0 && l.at - l.ms <= balancedAt) during.record(l.ms)
    const lost = await workload.verify()
    if (lost.length > 0)
      log(`${lost.length} acknowledged writes did not read back: ${lost.slice(0, 5).join("; ")}`)
    printResults(
      [
        {
          bench: "rebalance",
          shards: SHARDS,
          secondsToBalanced: Math.round((balancedAt - t0) / 100) / 10,
          movesDone: succeeded.size,
          clientErrors: workload.failures.length,
          p99MsDuringMoves: Math.round(during.percentile(99)),
        },
      ],
      args.json,
      ["bench", "shards", "secondsToBalanced", "movesDone", "clientErrors", "p99MsDuringMoves"],
    )
    log(
      `workload: ${workload.acked.size} puts acknowledged, ${workload.retried} retried, ${workload.failures.length} failed, ${lost.length} lost; ${during.count} during the moves`,
    )
  } finally {
    await c.close()
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
