/**
 * bench:metrics — what scraping `/metrics` costs a node with many groups. One node in this
 * process (in-memory store, network and bus) hosts G single-replica groups (default 10,000);
 * once they have leaders and quiesced, `/metrics` is fetched over HTTP from the node's own
 * endpoint once a second for S seconds. The CPU time of each scrape (the process's user +
 * system time across the request, client side included: an upper bound) gives the share of a
 * core that a 1 Hz scrape costs; `renderCpuMs` is the server's share alone (the families built,
 * health and readiness included, and written), measured by calling it directly:
 *   {"bench":"metrics","groups":10000,"scrapes":…,"scrapeCpuMs":…,"scrapeWallMs":…,"renderCpuMs":…,"cpuPctAt1Hz":…,"serverCpuPctAt1Hz":…,"bytes":…}
 *
 *   npm run bench:metrics [-- --groups 10000] [--seconds 20]
 */
import { parseArgs } from "node:util"
import { Context, Effect, Layer } from "effect"
import * as NodeHealth from "../../src/node/NodeHealth.js"
import * as NodeHttp from "../../src/node/NodeHttp.js"
import * as NodeMetrics from "../../src/node/NodeMetrics.js"
import * as NodeObservationsModule from "../../src/node/NodeObservations.js"
import { NodeObservations } from "../../src/node/NodeObservations.js"
import * as NodeShardMap from "../../src/node/NodeShardMap.js"
import { GroupId, NodeId, replicaIdOf } from "../../src/raft/Ids.js"
import { Node, NodeLive } from "../../src/runtime/Node.js"
import { exposition } from "../../src/runtime/Prometheus.js"
import * as LogStore from "../../src/storage/LogStore.js"
import * as MemoryLogStore from "../../src/storage/MemoryLogStore.js"
import { checksumKind } from "../../src/testing/ChecksumMachine.js"
import * as Bus from "../../src/transport/Bus.js"
import * as MemoryBus from "../../src/transport/MemoryBus.js"
import * as MemoryNetwork from "../../src/transport/MemoryNetwork.js"
import * as Transport from "../../src/transport/Transport.js"
import { numberOption } from "./BenchUtil.js"

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    groups: { type: "string", default: "10000" },
    seconds: { type: "string", default: "20" },
  },
})
const GROUPS = numberOption("groups", args.groups)
const SECONDS = numberOption("seconds", args.seconds)
const log = (s: string) => console.error(`[bench:metrics] ${s}`)

const program = Effect.gen(function* () {
  const bus = yield* MemoryBus.make()
  const network = yield* MemoryNetwork.make()
  const self = NodeId(1)
  const store = Layer.scoped(
    LogStore.LogStore,
    Effect.orDie(MemoryLogStore.make(new MemoryLogStore.MemoryDisk())),
  )
  const node = NodeLive({
    nodeId: self,
    cluster: "bench",
    kindOf: () => checksumKind,
    settings: { tickMs: 100 },
  }).pipe(Layer.provide(Layer.mergeAll(store, Transport.layerMemory(network, self), Bus.layerMemory(bus))))
  const services = NodeHttp.layer({ port: 0 }).pipe(
    Layer.provideMerge(
      Layer.mergeAll(node, NodeObservationsModule.layer, NodeShardMap.layer, Bus.layerMemory(bus)),
    ),
  )
  const ctx = yield* Layer.build(services)
  const n = Context.get(ctx, Node)
  const url = `${Context.get(ctx, NodeObservations).http}/metrics`
  log(`creating ${GROUPS} groups`)
  for (let g = 1; g <= GROUPS; g++)
    yield* n
      .createGroup({
        groupId: GroupId(g),
        replicaId: replicaIdOf(self),
        bootstrap: { voters: [replicaIdOf(self)] },
        campaign: true,
      })
      .pipe(Effect.orDie)
  log("waiting for leaders and quiescence")
  for (;;) {
    const st = yield* n.stats
    if (st.leaders === GROUPS && st.activeGroups === 0) break
    yield* Effect.sleep("500 millis")
  }
  const scrapes: Array<{ cpuMs: number; wallMs: number; bytes: number; renderCpuMs: number }> = []
  const observations = Context.get(ctx, NodeObservations)
  const map = Context.get(ctx, NodeShardMap.NodeShardMap)
  for (let i = 0; i < SECONDS; i++) {
    // The server's share: the families built (health and readiness included) and written.
    const render0 = process.cpuUsage()
    const now = Date.now()
    const families = yield* NodeMetrics.collect({
      node: n,
      observations,
      map,
      healthy: NodeHealth.health(n, now, undefined).ok,
      ready: (yield* NodeHealth.readiness(n, observations, map, now)).ok,
    })
    exposition(families)
    const render = process.cpuUsage(render0)
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const body = yield* Effect.promise(() => fetch(url).then((r) => r.text()))
    const wallMs = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    if (i > 0)
      scrapes.push({
        cpuMs: (cpu.user + cpu.system) / 1000,
        wallMs,
        bytes: body.length,
        renderCpuMs: (render.user + render.system) / 1000,
      })
    yield* Effect.sleep("1 second")
  }
  const mean = (f: (s: (typeof scrapes)[number]) => number) =>
    scrapes.reduce((a, s) => a + f(s), 0) / scrapes.length
  const scrapeCpuMs = mean((s) => s.cpuMs)
  console.log(
    JSON.stringify({
      bench: "metrics",
      groups: GROUPS,
      scrapes: scrapes.length,
      scrapeCpuMs: Number(scrapeCpuMs.toFixed(2)),
      scrapeWallMs: Number(mean((s) => s.wallMs).toFixed(2)),
      renderCpuMs: Number(mean((s) => s.renderCpuMs).toFixed(2)),
      cpuPctAt1Hz: Number((scrapeCpuMs / 10).toFixed(3)),
      serverCpuPctAt1Hz: Number((mean((s) => s.renderCpuMs) / 10).toFixed(3)),
      bytes: scrapes[0]?.bytes ?? 0,
    }),
  )
})

Effect.runPromise(Effect.scoped(program)).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  },
)
