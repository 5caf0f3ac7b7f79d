/**
 * Start benchmark (not a test): how long a node with N groups takes from process start to
 * ready after a kill -9, running the built `flotilla` (dist/bin/flotilla.mjs: `npm run build`).
 *
 *   npm run bench:start -- [--groups 1000,10000] [--runs 3] [--dir /path]
 *
 * For each N: a nats-server of its own; `flotilla start --bootstrap` on a fresh data directory;
 * a keyspace of N shards with one replica each (so all N groups live on that node); wait until
 * every group has a leader; kill -9; then `--runs` times: start the node again on the same
 * data, time its `{"event":"ready"}` line (`msToReady`) and the moment every group has a leader
 * again (`msToLeaders`), kill -9. Prints one JSON line per N:
 *
 *   {"bench":"start","groups":N,"msToReady":median,"msToLeaders":median,"runs":[...]}
 */
import type { ChildProcess } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { Effect } from "effect"
import { routerLayer } from "../../src/cli/ClientFlags.js"
import * as ClusterStatus from "../../src/cli/ClusterStatus.js"
import { Router } from "../../src/client/Router.js"
import { Bus } from "../../src/transport/Bus.js"
import { startNatsServer } from "../../src/transport/NatsServer.js"
import { numberOption } from "./BenchUtil.js"
import { BIN, cli, startNode as spawnNode } from "./FlotillaProcess.js"

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    groups: { type: "string", default: "1000" },
    runs: { type: "string", default: "3" },
    dir: { type: "string", default: tmpdir() },
  },
})

const CLUSTER = "benchstart"

/** A `flotilla start` process; resolves `ready` with the ms from spawn to its ready line. */
const startNode = (dataDir: string, nats: string, bootstrap: boolean, groups: number) => {
  // One node holds every replica: above the default `maxReplicasPerNode` (4,096) the new
  // cluster gets room for them.
  const args =
    bootstrap && groups >= 4096
      ? ["--cluster-settings", JSON.stringify({ maxReplicasPerNode: groups + 1 })]
      : []
  const { child, seen } = spawnNode({ dataDir, nats, cluster: CLUSTER, bootstrap, args }, /"event":"ready"/)
  return { child, ready: seen.then((s) => s.ms) }
}

const withCluster = <A>(
  nats: string,
  f: (status: Effect.Effect<ClusterStatus.StatusReport, unknown>) => Effect.Effect<A>,
) =>
  Effect.gen(function* () {
    const router = yield* Router
    const bus = yield* Bus
    return yield* f(ClusterStatus.gather(router, bus))
  }).pipe(
    Effect.provide(routerLayer({ nats, cluster: CLUSTER, timeoutMs: 30_000 })),
    Effect.orDie,
    Effect.scoped,
    Effect.runPromise,
  )

/** Polls until `groups` keyspace groups have a leader; the ms it took. */
const waitForLeaders = (nats: string, groups: number, timeoutMs: number) =>
  withCluster(nats, (status) =>
    Effect.gen(function* () {
      const t0 = performance.now()
      for (;;) {
        // While thousands of groups elect, the shard map's version moves under a paged read
        // ("could not read every page of one shard map version"): that look counts as not yet.
        const report = yield* Effect.either(status)
        const led =
          report._tag === "Left"
            ? 0
            : report.right.groups.filter((g) => g.keyspace === "kv" && g.leader !== undefined).length
        if (led >= groups) return performance.now() - t0
        if (performance.now() - t0 > timeoutMs)
          return yield* Effect.die(
            new Error(`${led} of ${groups} groups have a leader after ${timeoutMs} ms`),
          )
        yield* Effect.sleep("100 millis")
      }
    }),
  )

const killed = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGKILL")
  })

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const benchOne = async (groups: number, runs: number) => {
  const dir = mkdtempSync(join(args.dir, "flotilla-bench-start-"))
  const server = await startNatsServer({})
  const children: ChildProcess[] = []
  try {
    const dataDir = join(dir, "n1")
    const first = startNode(dataDir, server.url, true, groups)
    children.push(first.child)
    await first.ready
    await cli([
      "keyspace",
      "create",
      "kv",
      "--shards",
      String(groups),
      "--replication",
      "1",
      "--nats",
      server.url,
      "--cluster",
      CLUSTER,
    ])
    await waitForLeaders(server.url, groups, 600_000)
    await killed(first.child)
    const results: Array<{ msToReady: number; msToLeaders: number }> = []
    for (let i = 0; i < runs; i++) {
      const node = startNode(dataDir, server.url, false, groups)
      children.push(node.child)
      const msToReady = await node.ready
      const msAfterReady = await waitForLeaders(server.url, groups, 600_000)
      results.push({ msToReady: Math.round(msToReady), msToLeaders: Math.round(msToReady + msAfterReady) })
      await killed(node.child)
    }
    return {
      bench: "start",
      groups,
      msToReady: median(results.map((r) => r.msToReady)),
      msToLeaders: median(results.map((r) => r.msToLeaders)),
      runs: results,
    }
  } finally {
    for (const child of children) await killed(child)
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (!existsSync(BIN)) {
  console.error(`bench:start runs the built node: ${BIN} is missing, run npm run build first`)
  process.exit(1)
}
for (const g of args.groups.split(",")) {
  const groups = numberOption("groups", g)
  console.log(JSON.stringify(await benchOne(groups, numberOption("runs", args.runs))))
}
