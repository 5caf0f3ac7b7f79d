/**
 * bench:runtime — real processes on this machine: a nats-server, 3 node processes (LevelDB,
 * fsync on) and a separate client process.
 *
 * Throughput: groups G ∈ {1, 64} × outstanding proposals C ∈ {1, 256}, 128-byte payloads sent
 * over NATS request/reply to the group subjects (only leaders listen):
 *   {"bench":"runtime","groups":G,"clients":C,"payloadBytes":128,"opsPerSec":…,"p50Ms":…,"p99Ms":…}
 * Density: 10,000 idle groups of 3 replicas, measured once every group has a leader and has
 * quiesced: CPU of each node process (from /proc), its RSS, and NATS messages per second
 * (from the server's monitoring endpoint):
 *   {"bench":"density","groups":10000,"idleCpuPct":…,"rssMb":…,"natsMsgsPerSec":…}
 * idleCpuPct and rssMb are the worst node's; per-node figures are included.
 *
 * Nodes authenticate frames and pings with a cluster secret unless `--no-cluster-secret`
 * (docs/decisions/0065 compares the two).
 *
 *   npm run bench:runtime [-- --json] [--seconds 10] [--density-groups 10000] [--skip-density] [--no-cluster-secret]
 */
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { parseArgs, promisify } from "node:util"
import { ProcessCluster } from "../../src/testing/ProcessCluster.js"
import { freePort } from "../../src/transport/NatsServer.js"
import { cpuMs, numberOption, printResults } from "./BenchUtil.js"

const run = promisify(execFile)
const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    "density-groups": { type: "string", default: "10000" },
    "density-seconds": { type: "string", default: "30" },
    "skip-density": { type: "boolean", default: false },
    "skip-throughput": { type: "boolean", default: false },
    cases: { type: "string", default: "1x1,1x256,64x1,64x256" },
    json: { type: "boolean", default: false },
    "no-cluster-secret": { type: "boolean", default: false },
  },
})
/** Whether nodes authenticate frames and pings with a cluster secret (the default, as `security init` sets up). */
const clusterSecret = !args["no-cluster-secret"]
const log = (s: string) => console.error(`[bench:runtime] ${s}`)
const rows: Record<string, unknown>[] = []

/** The client process: one JSON line with opsPerSec and latencies. */
const client = async (url: string, cluster: string, groups: number, clients: number) => {
  const { stdout } = await run(
    process.execPath,
    [
      "--import",
      "tsx",
      join(import.meta.dirname, "runtime-client.ts"),
      "--url",
      url,
      "--cluster",
      cluster,
      "--groups",
      String(groups),
      "--clients",
      String(clients),
      "--seconds",
      String(numberOption("seconds", args.seconds)),
      "--warmup",
      String(numberOption("warmup", args.warmup)),
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  )
  return JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, number>
}

const summary = async (c: ProcessCluster, node: number) =>
  (await c.admin(node, { op: "summary" }, 10_000)) as
    | {
        groups: number
        leaders: number
        leaderless: number
        quiesced: number
        stats: { activeGroups: number }
      }
    | undefined

const cpuSeconds = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = f.slice(f.lastIndexOf(")") + 2).split(" ")
  // utime and stime are fields 14 and 15 of the stat line (11 and 12 after the command).
  return (Number(fields[11]) + Number(fields[12])) / 100
}
const rssMb = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return m ? Number(m[1]) / 1024 : Number.NaN
}
const natsInMsgs = async (port: number) => {
  const r = await fetch(`http://127.0.0.1:${port}/varz`)
  const v = (await r.json()) as { in_msgs: number }
  return v.in_msgs
}

if (!args["skip-throughput"]) {
  log("throughput: starting nats-server and 3 nodes with 64 groups")
  const c = await ProcessCluster.start({
    nodes: 3,
    cluster: "bench",
    nodeArgs: ["--static-groups", "64"],
    clusterSecret,
  })
  try {
    await c.waitFor("leaders in all 64 groups", async () => {
      const s = await Promise.all([1, 2, 3].map((n) => summary(c, n)))
      return s.every((x) => x !== undefined && x.leaderless === 0) ? true : undefined
    })
    for (const spec of args.cases.split(",")) {
      const [groups, clients] = spec.split("x").map(Number) as [number, number]
      log(`throughput: ${groups} group(s), ${clients} outstanding`)
      const pids = [1, 2, 3].map((n) => c.node(n).pid).filter((p): p is number => p !== undefined)
      const cpu0 = cpuMs(pids)
      const r = await client(c.nats.url, "bench", groups, clients)
      const cpu1 = cpuMs(pids)
      // The client's warm-up is in the CPU window too: its operations counted at the measured rate.
      const ops =
        (r.opsPerSec ?? 0) * (numberOption("seconds", args.seconds) + numberOption("warmup", args.warmup))
      rows.push({
        bench: "runtime",
        groups,
        clients,
        payloadBytes: 128,
        ...r,
        nodes: 3,
        fsync: true,
        clusterSecret,
        nodeCpuMsPer1000Ops:
          cpu0 === null || cpu1 === null || ops === 0 ? null : Math.round(((cpu1 - cpu0) * 1000) / ops),
      })
    }
  } finally {
    await c.close()
  }
}

if (!args["skip-density"]) {
  const groups = numberOption("density-groups", args["density-groups"])
  const monitor = await freePort()
  log(`density: starting 3 nodes with ${groups} groups`)
  const c = await ProcessCluster.start({
    nodes: 3,
    cluster: "density",
    nodeArgs: ["--static-groups", String(groups)],
    clusterSecret,
    natsArgs: ["-m", String(monitor)],
  })
  try {
    await c.waitFor(
      `every group led and quiesced`,
      async () => {
        const s = await Promise.all([1, 2, 3].map((n) => summary(c, n)))
        if (s.some((x) => x === undefined)) return undefined
        log(
          `  ${s.map((x) => `node: ${x!.leaders} leading, ${x!.leaderless} leaderless, ${x!.quiesced} quiesced`).join("; ")}`,
        )
        return s.every((x) => x!.leaderless === 0 && x!.quiesced === groups) ? true : undefined
      },
      600_000,
      5_000,
    )
    const pids = c.nodes.map((n) => n.pid!)
    const cpu0 = pids.map(cpuSeconds)
    const msgs0 = await natsInMsgs(monitor)
    const t0 = performance.now()
    await new Promise((r) => setTimeout(r, numberOption("density-seconds", args["density-seconds"]) * 1000))
    const elapsed = (performance.now() - t0) / 1000
    const cpuPct = pids.map((p, i) => ((cpuSeconds(p) - cpu0[i]!) / elapsed) * 100)
    const rss = pids.map(rssMb)
    const msgs = (await natsInMsgs(monitor)) - msgs0
    const round1 = (x: number) => Math.round(x * 10) / 10
    rows.push({
      bench: "density",
      clusterSecret,
      groups,
      replicasPerGroup: 3,
      idleCpuPct: round1(Math.max(...cpuPct)),
      rssMb: Math.round(Math.max(...rss)),
      natsMsgsPerSec: round1(msgs / elapsed),
      perNodeCpuPct: cpuPct.map(round1),
      perNodeRssMb: rss.map(Math.round),
      seconds: round1(elapsed),
    })
  } finally {
    await c.close()
  }
}

printResults(rows, args.json, [
  "bench",
  "groups",
  "clients",
  "opsPerSec",
  "p50Ms",
  "p99Ms",
  "idleCpuPct",
  "rssMb",
  "natsMsgsPerSec",
])
