/**
 * bench:kv — the revisioned KV store in one process (three nodes, four KV shards, real Raft
 * groups over the in-memory network and bus; no NATS, no disk): prints JSON lines
 *
 *   { bench: "kv.txn", clients, seconds, txnsPerSec, p50Ms, p99Ms, maxMs, conflicts }
 *   { bench: "kv.watch", watchers, events, seconds, eventsPerSec }
 *
 * `kv.txn`: C clients, each a loop of one transaction outstanding (compare a key's mod
 * revision, put two keys of one hash tag); `kv.watch`: W watchers of one prefix receive E puts;
 * eventsPerSec = W * E / time until every watcher has every event.
 *
 *   npm run bench:kv -- --clients 32 --seconds 10 --watchers 100 --events 500
 */
import { parseArgs } from "node:util"
import { Effect, Fiber, Layer, Stream } from "effect"
import { Kv } from "../../shards/kv/Kv.js"
import { Histogram } from "../../src/cli/Histogram.js"
import { KvRevClient, layer as revLayer } from "../../src/client/KvRevClient.js"
import * as KvWatch from "../../src/client/KvWatch.js"
import * as Router from "../../src/client/Router.js"
import * as MemoryCluster from "../client/support/MemoryCluster.js"
import { latencyFields, numberOption } from "./BenchUtil.js"

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    clients: { type: "string", default: "32" },
    seconds: { type: "string", default: "10" },
    watchers: { type: "string", default: "100" },
    events: { type: "string", default: "500" },
  },
})
const clients = numberOption("clients", args.clients)
const seconds = numberOption("seconds", args.seconds)
const watchers = numberOption("watchers", args.watchers)
const events = numberOption("events", args.events)

const txnBench = Effect.gen(function* () {
  const kv = yield* KvRevClient
  const h = new Histogram()
  let done = 0
  let conflicts = 0
  const until = Date.now() + seconds * 1000
  const worker = (c: number) =>
    Effect.gen(function* () {
      let rev = 0
      while (Date.now() < until) {
        const t0 = performance.now()
        const r = yield* kv.txn({
          compare: [{ key: `{c${c}}a`, target: "modRevision", result: "=", number: rev }],
          success: [
            { op: "put", key: `{c${c}}a`, value: "x" },
            { op: "put", key: `{c${c}}b`, value: "y" },
          ],
          failure: [{ op: "get", key: `{c${c}}a` }],
        })
        h.record(performance.now() - t0)
        done++
        if (r.succeeded) rev = r.revision
        else {
          conflicts++
          const got = r.results[0]
          rev = got?.op === "get" ? (got.kv?.modRevision ?? 0) : 0
        }
      }
    })
  yield* Effect.all(
    Array.from({ length: clients }, (_, c) => worker(c)),
    { concurrency: "unbounded" },
  )
  return {
    bench: "kv.txn",
    clients,
    seconds,
    txnsPerSec: Math.round(done / seconds),
    ...latencyFields(h),
    conflicts,
  }
})

const watchBench = Effect.gen(function* () {
  const kv = yield* KvRevClient
  const router = yield* Router.Router
  const start = yield* kv.read("{w}")
  const fibers = yield* Effect.forEach(Array.from({ length: watchers }), () =>
    Effect.fork(
      KvWatch.watch(router, "{w}", { fromRevision: start.revision + 1, pollInterval: "20 millis" }).pipe(
        Stream.take(events),
        Stream.runDrain,
      ),
    ),
  )
  const t0 = performance.now()
  for (let i = 0; i < events; i++) yield* kv.put(`{w}k${i % 10}`, String(i))
  yield* Fiber.joinAll(fibers)
  const elapsed = (performance.now() - t0) / 1000
  return {
    bench: "kv.watch",
    watchers,
    events,
    seconds: Math.round(elapsed * 1000) / 1000,
    eventsPerSec: Math.round((watchers * events) / elapsed),
  }
})

const main = Effect.scoped(
  Effect.gen(function* () {
    const cluster = yield* MemoryCluster.make({ kinds: [Kv] })
    const router = Router.layer({ cluster: cluster.cluster }).pipe(Layer.provide(cluster.clientBus))
    const client = revLayer.pipe(Layer.provideMerge(router))
    const results = yield* Effect.all([txnBench, watchBench]).pipe(Effect.provide(client))
    for (const r of results) console.log(JSON.stringify(r))
  }),
)

Effect.runPromise(main).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  },
)
