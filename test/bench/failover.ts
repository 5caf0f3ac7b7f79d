/**
 * bench:failover — how long groups go without serving writes after a fault (issue 12 D), on
 * real processes: a nats-server and 3 static node processes (LevelDB, fsync on) with `--groups`
 * groups of the checksum machine (3 replicas each), every group written once and then idle
 * (quiesced, the usual state of most groups) before each fault:
 *
 * - `kill`: kill -9 of the node that leads the most groups; per group it led, the time from the
 *   kill until a write to the group succeeds;
 * - `natsrestart`: the nats-server stopped for `--nats-down-ms` (1 s) and started again; per
 *   group, the time from the server being up again until a write succeeds;
 * - `pause`: SIGSTOP of the node that leads the most groups for `--pause-ms` (2 s), then SIGCONT;
 *   per group it led, the time from the SIGSTOP until a write succeeds.
 *
 * A probe sends a write (`w<tag>`, NATS request/reply to the group subject, which only leaders
 * serve) every `--probe-every-ms` until one succeeds; a group still failing after `--give-up-ms`
 * counts in `unrecovered` (and as `--give-up-ms` in the percentiles). The cluster heals and
 * settles (every group led and quiesced) between faults.
 *
 *   {"bench":"failover","fault":"kill","groups":N,"probedGroups":M,"p50Ms":..,"p99Ms":..,"maxMs":..,"unrecovered":0,...}
 *
 * (`groups`: the cluster's groups; `probedGroups`: the groups the percentiles cover.)
 *
 *   npm run bench:failover [-- --json] [--groups 1000] [--faults kill,natsrestart,pause]
 *     [--node-args="--tick-ms 100"] [--logs-dir DIR (each node's output, written at the end)]
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { ProcessCluster } from "../../src/testing/ProcessCluster.js"
import { numberOption, printResults } from "./BenchUtil.js"

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    groups: { type: "string", default: "1000" },
    faults: { type: "string", default: "kill,natsrestart,pause" },
    "nats-down-ms": { type: "string", default: "1000" },
    "pause-ms": { type: "string", default: "2000" },
    "probe-every-ms": { type: "string", default: "20" },
    "probe-timeout-ms": { type: "string", default: "500" },
    "give-up-ms": { type: "string", default: "30000" },
    "node-args": { type: "string", default: "" },
    "logs-dir": { type: "string" },
    json: { type: "boolean", default: false },
  },
})
const log = (s: string) => console.error(`[bench:failover] ${s}`)
const GROUPS = numberOption("groups", args.groups)
const PROBE_EVERY = numberOption("probe-every-ms", args["probe-every-ms"])
const PROBE_TIMEOUT = numberOption("probe-timeout-ms", args["probe-timeout-ms"])
const GIVE_UP = numberOption("give-up-ms", args["give-up-ms"])
const CLUSTER = "failover"
const decoder = new TextDecoder()
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
const allGroups = Array.from({ length: GROUPS }, (_, i) => i + 1)

const summary = async (c: ProcessCluster, node: number) =>
  (await c.admin(node, { op: "summary" }, 10_000)) as
    | { groups: number; leaders: number; leaderless: number; quiesced: number }
    | undefined

/** Waits until every group has a leader on every node's view and every replica is quiesced. */
const settle = (c: ProcessCluster, what: string) =>
  c.waitFor(
    `${what}: every group led and quiesced`,
    async () => {
      const s = await Promise.all([1, 2, 3].map((n) => summary(c, n)))
      if (s.some((x) => x === undefined)) return undefined
      return s.every((x) => x!.leaderless === 0 && x!.quiesced === GROUPS) ? true : undefined
    },
    600_000,
    1000,
  )

/** One write to group `g`: true when it was applied. */
const write = async (c: ProcessCluster, g: number, tag: string): Promise<boolean> => {
  const r = await c.request(`flotilla.${CLUSTER}.cli.group.${g}`, `w${tag}`, PROBE_TIMEOUT)
  if (r === undefined) return false
  try {
    return (JSON.parse(decoder.decode(r)) as { count?: number }).count !== undefined
  } catch {
    return false
  }
}

/** Per group, ms from `t0` until a write succeeds (GIVE_UP when none did in time). */
const probe = async (c: ProcessCluster, groups: readonly number[], t0: number, tag: string) => {
  const times = await Promise.all(
    groups.map(async (g) => {
      for (let i = 0; performance.now() - t0 < GIVE_UP; i++) {
        if (await write(c, g, `${tag}-${g}-${i}`)) return performance.now() - t0
        await sleep(PROBE_EVERY)
      }
      return undefined
    }),
  )
  return times
}

/** The node leading the most groups and the groups it leads. */
const busiestLeader = async (c: ProcessCluster) => {
  const led = new Map<number, number[]>()
  for (const n of [1, 2, 3]) {
    const st = await c.status(n)
    if (st === undefined) throw new Error(`node ${n} does not answer its admin status`)
    led.set(
      n,
      st.groups.filter((g) => g.isLeader).map((g) => g.groupId),
    )
  }
  const [node, groups] = [...led.entries()].sort((a, b) => b[1].length - a[1].length)[0]!
  return { node, groups }
}

const result = (fault: string, times: ReadonlyArray<number | undefined>, extra: Record<string, unknown>) => {
  const done = times.map((t) => t ?? GIVE_UP).sort((a, b) => a - b)
  const at = (p: number) => Math.round(done[Math.min(done.length - 1, Math.ceil(p * done.length) - 1)]!)
  return {
    bench: "failover",
    fault,
    // The cluster's groups; the times are those of the groups probed (after a kill or a pause,
    // the ones the victim led).
    groups: GROUPS,
    probedGroups: times.length,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    maxMs: at(1),
    unrecovered: times.filter((t) => t === undefined).length,
    nodes: 3,
    ...extra,
  }
}

const nodeArgs = args["node-args"].trim() === "" ? [] : args["node-args"].trim().split(/\s+/)
log(
  `starting nats-server and 3 nodes with ${GROUPS} groups${nodeArgs.length ? ` (${nodeArgs.join(" ")})` : ""}`,
)
const c = await ProcessCluster.start({
  nodes: 3,
  cluster: CLUSTER,
  nodeArgs: ["--static-groups", String(GROUPS), ...nodeArgs],
})
const rows: Record<string, unknown>[] = []
try {
  await settle(c, "start")
  log("writing once to every group")
  const first = await probe(c, allGroups, performance.now(), "warm")
  if (first.some((t) => t === undefined)) throw new Error("some groups never took their first write")
  for (const fault of args.faults.split(",")) {
    await settle(c, `before ${fault}`)
    if (fault === "kill") {
      const { node, groups } = await busiestLeader(c)
      log(`kill -9 of node ${node}, leader of ${groups.length} groups`)
      const t0 = performance.now()
      await c.node(node).kill("SIGKILL")
      rows.push(result("kill", await probe(c, groups, t0, "kill"), { node, from: "kill" }))
      await c.node(node).start()
    } else if (fault === "natsrestart") {
      const down = numberOption("nats-down-ms", args["nats-down-ms"])
      log(`nats-server down for ${down} ms`)
      await c.nats.stop()
      await sleep(down)
      await c.nats.start()
      const t0 = performance.now()
      rows.push(
        result("natsrestart", await probe(c, allGroups, t0, "nats"), { downMs: down, from: "nats up" }),
      )
    } else if (fault === "pause") {
      const pause = numberOption("pause-ms", args["pause-ms"])
      const { node, groups } = await busiestLeader(c)
      log(`SIGSTOP of node ${node}, leader of ${groups.length} groups, for ${pause} ms`)
      const t0 = performance.now()
      c.node(node).signal("SIGSTOP")
      const resume = sleep(pause).then(() => c.node(node).signal("SIGCONT"))
      rows.push(
        result("pause", await probe(c, groups, t0, "pause"), { node, pauseMs: pause, from: "SIGSTOP" }),
      )
      await resume
    } else throw new Error(`unknown fault "${fault}" (kill, natsrestart, pause)`)
    log(JSON.stringify(rows.at(-1)))
  }
} finally {
  const dir = args["logs-dir"]
  if (dir !== undefined) {
    mkdirSync(dir, { recursive: true })
    for (const [i, n] of c.nodes.entries()) writeFileSync(join(dir, `node-${i + 1}.log`), n.allLogs())
  }
  await c.close()
}

printResults(rows, args.json, ["bench", "fault", "groups", "p50Ms", "p99Ms", "maxMs", "unrecovered"])
