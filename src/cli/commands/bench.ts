/**
 * `flotilla bench`: a read/write workload against the KV store with a progress bar and a
 * latency summary (p50, p90, p99, max for reads and writes). `--json` prints the result as one
 * JSON line instead (`{"bench":"kv",...}`).
 */
import { Command, Options } from "@effect/cli"
import { Console, Context, Effect, Layer } from "effect"
import type * as Bench from "../Bench.js"
import { clientFlags, routerLayer } from "../ClientFlags.js"
import { integerIn } from "../IntegerFlags.js"

const clients = integerIn("clients", 1, 10_000).pipe(
  Options.withDescription("concurrent callers, each with one request outstanding"),
  Options.withDefault(32),
)
const seconds = integerIn("seconds", 1, 3600).pipe(
  Options.withDescription("how long to run"),
  Options.withDefault(10),
)
const keys = integerIn("keys", 1, 10_000_000).pipe(
  Options.withDescription("distinct keys written and read"),
  Options.withDefault(10_000),
)
const valueBytes = integerIn("value-bytes", 0, 448 * 1024).pipe(
  Options.withDescription("size of each value"),
  Options.withDefault(100),
)
const reads = Options.float("reads").pipe(
  Options.withDescription("fraction of operations that are reads, 0..1"),
  Options.withDefault(0.5),
)
const stale = Options.boolean("stale").pipe(
  Options.withDescription("reads accept stale answers from any replica (no ReadIndex)"),
)
const keep = Options.boolean("keep").pipe(
  Options.withDescription("leave the keys the run wrote in the store (they are deleted by default)"),
)
const json = Options.boolean("json").pipe(Options.withDescription("print the result as one JSON line"))

/** `flotilla bench`. */
export const bench = Command.make(
  "bench",
  { ...clientFlags, clients, seconds, keys, valueBytes, reads, stale, keep, json },
  (o) =>
    Effect.gen(function* () {
      const [KvClient, Router, Bench] = yield* Effect.promise(() =>
        Promise.all([
          import("../../client/KvClient.js"),
          import("../../client/Router.js"),
          import("../Bench.js"),
        ]),
      )
      const client = yield* Layer.build(KvClient.layer.pipe(Layer.provideMerge(routerLayer(o))))
      const kv = Context.get(client, KvClient.KvClient)
      const router = Context.get(client, Router.Router)
      const options: Bench.BenchOptions = {
        clients: o.clients,
        seconds: o.seconds,
        keys: o.keys,
        valueBytes: o.valueBytes,
        reads: o.reads,
        staleReads: o.stale,
      }
      const tty = process.stderr.isTTY === true
      let lastLine = 0
      const result = yield* Bench.run(kv, options, (p) =>
        Effect.sync(() => {
          if (tty) process.stderr.write(`\r${Bench.progressLine(p)}`)
          else if (p.elapsedMs - lastLine >= 1000 || p.elapsedMs >= p.totalMs) {
            lastLine = p.elapsedMs
            process.stderr.write(`${Bench.progressLine(p)}\n`)
          }
        }),
      )
      if (tty) process.stderr.write("\n")
      if (!o.keep) {
        const removed = yield* Bench.removeKeys(kv, result.written, o.clients)
        yield* Console.error(
          removed.failed.length === 0
            ? `removed the ${result.written.size} key(s) the run wrote (--keep keeps them)`
            : `removed ${result.written.size - removed.failed.length} of the ${result.written.size} key(s) the run wrote; ` +
                `${removed.failed.length} could not be deleted (first: ${removed.failed[0]})`,
        )
      }
      const stats = yield* router.stats
      if (o.json)
        yield* Console.log(
          JSON.stringify({
            bench: "kv",
            clients: o.clients,
            seconds: Number(result.seconds.toFixed(2)),
            reads: o.reads,
            ops: result.ops,
            opsPerSec: Math.round(result.opsPerSec),
            errors: result.errors,
            p50Ms: Number(result.all.p50.toFixed(3)),
            p90Ms: Number(result.all.p90.toFixed(3)),
            p99Ms: Number(result.all.p99.toFixed(3)),
            maxMs: Number(result.all.max.toFixed(3)),
            // How the client got there: bus messages, batching, retries (RouterStats).
            attempts: stats.attempts,
            batches: stats.batches,
            batchedRequests: stats.batchedRequests,
            retries: stats.retries,
            requestTimeouts: stats.requestTimeouts,
            notLeader: stats.notLeader,
            overloaded: stats.overloaded,
          }),
        )
      else yield* Console.log(Bench.summary(options, result))
    }).pipe(Effect.scoped),
).pipe(Command.withDescription("run a read/write workload on the KV store and summarize its latency"))
