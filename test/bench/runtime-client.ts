/**
 * The load generator of bench:runtime, run as its own process: C workers, each with one
 * request outstanding, send 128-byte proposals over NATS request/reply to the group subjects
 * of G groups (only the leader listens), for a fixed time after a warmup. Prints one JSON
 * line: { opsPerSec, p50Ms, p99Ms, errors, retries, clientBatching }.
 *
 * With `--batch true` (the default) requests for one group made in the same event-loop turn
 * travel as one message on the group's batch subject (src/runtime/RequestBatch.ts): each
 * worker still waits for its own proposal, only the bus messages are shared.
 *
 *   tsx test/bench/runtime-client.ts --url nats://... --cluster c --groups G --clients C --seconds S
 */
import { parseArgs } from "node:util"
import { connect } from "@nats-io/transport-node"
import { Histogram } from "../../src/cli/Histogram.js"
import { decodeBatchReply, encodeBatch } from "../../src/runtime/RequestBatch.js"
import { latencyFields, numberOption } from "./BenchUtil.js"

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    url: { type: "string", default: "nats://127.0.0.1:4222" },
    cluster: { type: "string", default: "bench" },
    groups: { type: "string", default: "64" },
    clients: { type: "string", default: "256" },
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    payload: { type: "string", default: "128" },
    batch: { type: "string", default: "true" },
  },
})
const batching = args.batch !== "false"
const groups = numberOption("groups", args.groups)
const clients = numberOption("clients", args.clients)
const payload = new Uint8Array(numberOption("payload", args.payload) + 1).fill(0x61)
payload[0] = 0x77 // "w": a proposal to the test state machine
const decoder = new TextDecoder()

const nc = await connect({ servers: args.url, maxReconnectAttempts: -1 })
const latency = new Histogram()
let done = 0
let errors = 0
let retries = 0
let measuring = false
let stop = false
let nextGroup = 0

/** Sends one request to group g: alone, or in the next batch for that group. */
const pending = new Map<number, { payload: Uint8Array; resolve: (reply: string | undefined) => void }[]>()
let flushScheduled = false
const flush = () => {
  flushScheduled = false
  for (const [g, items] of pending) {
    pending.delete(g)
    nc.request(`flotilla.${args.cluster}.cli.group.${g}.batch`, encodeBatch(items.map((i) => i.payload)), {
      timeout: 5000,
    }).then(
      (m) => {
        const r = decodeBatchReply(m.data)
        items.forEach((it, k) => {
          it.resolve("answers" in r ? decoder.decode(r.answers[k]) : undefined)
        })
      },
      () => {
        for (const it of items) it.resolve(undefined)
      },
    )
  }
}
const send = (g: number): Promise<string | undefined> => {
  if (!batching) {
    return nc.request(`flotilla.${args.cluster}.cli.group.${g}`, payload, { timeout: 5000 }).then(
      (m) => decoder.decode(m.data),
      () => undefined,
    )
  }
  return new Promise((resolve) => {
    const list = pending.get(g)
    if (list === undefined) pending.set(g, [{ payload, resolve }])
    else list.push({ payload, resolve })
    if (!flushScheduled) {
      flushScheduled = true
      setImmediate(flush)
    }
  })
}

const worker = async () => {
  while (!stop) {
    const g = (nextGroup++ % groups) + 1
    const start = performance.now()
    for (let attempt = 0; !stop; attempt++) {
      const text = await send(g)
      if (text?.startsWith('{"count"')) break
      // NotLeader / Overloaded / ProposalFailed, or no responders (election) / timeout: retry.
      retries++
      if (attempt > 50) {
        errors++
        break
      }
      await new Promise((r) => setTimeout(r, Math.min(5 * 2 ** attempt, 200)))
    }
    if (measuring) {
      done++
      latency.record(performance.now() - start)
    }
  }
}

const workers = Array.from({ length: clients }, worker)
await new Promise((r) => setTimeout(r, numberOption("warmup", args.warmup) * 1000))
measuring = true
const t0 = performance.now()
await new Promise((r) => setTimeout(r, numberOption("seconds", args.seconds) * 1000))
measuring = false
const elapsed = (performance.now() - t0) / 1000
stop = true
await Promise.all(workers)
await nc.close()
console.log(
  JSON.stringify({
    opsPerSec: Math.round(done / elapsed),
    ...latencyFields(latency),
    errors,
    retries,
    clientBatching: batching,
  }),
)
