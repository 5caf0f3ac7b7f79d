/**
 * bench:stages — where a put's time goes, measured through the product: a nats-server and three
 * `flotilla start` processes (the built bin, LevelDB with fsync), a `kv` keyspace of 16 shards,
 * then for each client count `flotilla bench` (the typed client, 128-byte values, puts only)
 * while the nodes' own `/metrics` are read before and after. Prints one JSON line per row:
 *
 *   {"bench":"stages","clients":1,"opsPerSec":…,"p50Ms":…,"p99Ms":…,"clientMeanMs":…,
 *    "proposalMeanMs":…,"proposalToCommitMeanMs":…,"storageWriteMeanMs":…,"commitToApplyMeanMs":…,"outsideLeaderMeanMs":…,
 *    "nodeCpuMsPer1000Ops":…}
 *
 * - `clientMeanMs`: the bench's mean latency per put (client encode, session, bus, reply);
 * - `proposalMeanMs`: on the leaders, command accepted into the log → applied and answered
 *   (replication to a quorum, both fsyncs, commit, apply): `flotilla_proposal_seconds`;
 * - `proposalToCommitMeanMs`: the part of it until the leader's round that learnt the commit
 *   (`flotilla_proposal_to_commit_seconds`); the rest is that round's apply and answer;
 * - `storageWriteMeanMs`: one engine round's store write (synced when it carries entries):
 *   `flotilla_storage_write_seconds`, all nodes;
 * - `commitToApplyMeanMs`: the round that learnt a commit → its entries applied;
 * - `outsideLeaderMeanMs` = client − proposal: client work, the request's and reply's bus hops,
 *   and the wait in the leader's mailbox before the proposal;
 * - `nodeCpuMsPer1000Ops`: user + system CPU of the three node processes per 1,000 puts (Linux
 *   `/proc`; null elsewhere), idle ticking included.
 *
 *   npm run bench:stages [-- --clients 1,16,256] [--seconds 10]
 */
import type { ChildProcess } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { startNatsServer } from "../../src/transport/NatsServer.js"
import { cpuMs, numberOption } from "./BenchUtil.js"
import { cli, startNode as spawnNode } from "./FlotillaProcess.js"

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    clients: { type: "string", default: "1,16,256" },
    seconds: { type: "string", default: "10" },
    shards: { type: "string", default: "16" },
  },
})
const CLIENTS = (args.clients ?? "1").split(",").map((c) => numberOption("clients", c))
const SECONDS = numberOption("seconds", args.seconds)
const SHARDS = numberOption("shards", args.shards)
const CLUSTER = "stages"
const log = (s: string) => console.error(`[bench:stages] ${s}`)

/** A `flotilla start` process and the URL of its HTTP endpoint. */
const startNode = (dataDir: string, nats: string, bootstrap: boolean) => {
  const { child, seen } = spawnNode(
    { dataDir, nats, cluster: CLUSTER, bootstrap },
    /\{"event":"http","url":"([^"]+)"\}/,
  )
  return { child, http: seen.then((s) => s.match[1]!) }
}

const untilOk = async (what: string, f: () => Promise<unknown>, seconds = 90) => {
  for (let i = 0; ; i++) {
    try {
      return await f()
    } catch (e) {
      if (String(e).includes("KeyspaceExists")) return
      if (i >= seconds) throw new Error(`${what}: ${String(e)}`)
      await new Promise((r) => setTimeout(r, 1000))
    }
  }
}

/** Sum and count of the histograms named `name` in one scrape. */
const histogram = (text: string, name: string) => {
  let sum = 0
  let count = 0
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}_sum`)) sum += Number(line.slice(line.lastIndexOf(" ") + 1))
    else if (line.startsWith(`${name}_count`)) count += Number(line.slice(line.lastIndexOf(" ") + 1))
  }
  return { sum, count }
}

const STAGES = {
  proposalMeanMs: "flotilla_proposal_seconds",
  proposalToCommitMeanMs: "flotilla_proposal_to_commit_seconds",
  storageWriteMeanMs: "flotilla_storage_write_seconds",
  commitToApplyMeanMs: "flotilla_commit_to_apply_seconds",
} as const

const scrape = async (urls: ReadonlyArray<string>) => {
  const texts = await Promise.all(urls.map(async (u) => (await fetch(`${u}/metrics`)).text()))
  const all = texts.join("\n")
  return Object.fromEntries(Object.entries(STAGES).map(([k, name]) => [k, histogram(all, name)]))
}

const round = (x: number) => Number(x.toFixed(3))

const main = async () => {
  const dir = mkdtempSync(join(tmpdir(), "flotilla-bench-stages-"))
  const server = await startNatsServer({})
  const children: ChildProcess[] = []
  try {
    const first = startNode(join(dir, "n1"), server.url, true)
    children.push(first.child)
    const urls = [await first.http]
    for (const n of ["n2", "n3"]) {
      const node = startNode(join(dir, n), server.url, false)
      children.push(node.child)
      urls.push(await node.http)
    }
    const flags = ["--cluster", CLUSTER, "--nats", server.url]
    await untilOk("keyspace create", () =>
      cli(["keyspace", "create", "kv", "--shards", String(SHARDS), ...flags]),
    )
    await untilOk("first put", () => cli(["kv", "put", "warm", "1", ...flags]))
    log(`3 nodes up, keyspace kv of ${SHARDS} shards; warming up`)
    await cli(["bench", "--clients", "64", "--seconds", "3", "--json", ...flags])
    const pids = children.map((c) => c.pid!)
    for (const clients of CLIENTS) {
      const before = await scrape(urls)
      const cpu0 = cpuMs(pids)
      const out = await cli([
        "bench",
        "--clients",
        String(clients),
        "--seconds",
        String(SECONDS),
        "--keys",
        "10000",
        "--value-bytes",
        "128",
        "--reads",
        "0",
        "--keep",
        "--json",
        ...flags,
      ])
      const cpu1 = cpuMs(pids)
      const after = await scrape(urls)
      const row = JSON.parse(out.split("\n").find((l) => l.startsWith("{"))!) as {
        ops: number
        opsPerSec: number
        seconds: number
        p50Ms: number
        p99Ms: number
      }
      const stage = (k: keyof typeof STAGES) => {
        const n = after[k]!.count - before[k]!.count
        return n === 0 ? null : round(((after[k]!.sum - before[k]!.sum) * 1000) / n)
      }
      const clientMeanMs = round((row.seconds * 1000 * clients) / row.ops)
      const proposalMeanMs = stage("proposalMeanMs")
      console.log(
        JSON.stringify({
          bench: "stages",
          clients,
          opsPerSec: row.opsPerSec,
          p50Ms: row.p50Ms,
          p99Ms: row.p99Ms,
          clientMeanMs,
          proposalMeanMs,
          proposalToCommitMeanMs: stage("proposalToCommitMeanMs"),
          storageWriteMeanMs: stage("storageWriteMeanMs"),
          commitToApplyMeanMs: stage("commitToApplyMeanMs"),
          outsideLeaderMeanMs: proposalMeanMs === null ? null : round(clientMeanMs - proposalMeanMs),
          nodeCpuMsPer1000Ops:
            cpu0 === null || cpu1 === null ? null : Math.round(((cpu1 - cpu0) * 1000) / row.ops),
        }),
      )
    }
  } finally {
    for (const c of children) c.kill("SIGKILL")
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
