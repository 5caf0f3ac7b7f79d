/**
 * The load generator of bench:runtime, run as its own process: C workers, each with one
 * request outstanding, send 128-byte proposals over NATS request/reply to the group subjects
 * of G groups (only the leader listens), for a fixed time after a warmup. Prints one JSON
 * line: { opsPerSec, p50Ms, p99Ms, errors, retries }.
 *
 *   tsx test/bench/runtime-client.ts --url nats://... --cluster c --groups G --clients C --seconds S
 */
import { connect } from "@nats-io/transport-node"
import { LatencyRecorder, parseArgs } from "./BenchUtil.js"

const args = parseArgs(process.argv.slice(2), {
  url: "nats://127.0.0.1:4222",
  cluster: "bench",
  groups: 64,
  clients: 256,
  seconds: 10,
  warmup: 2,
  payload: 128,
})
const groups = Number(args.groups)
const clients = Number(args.clients)
const payload = new Uint8Array(Number(args.payload) + 1).fill(0x61)
payload[0] = 0x77 // "w": a proposal to the test state machine
const decoder = new TextDecoder()

const nc = await connect({ servers: String(args.url), maxReconnectAttempts: -1 })
const latency = new LatencyRecorder()
let done = 0
let errors = 0
let retries = 0
let measuring = false
let stop = false
let nextGroup = 0

const worker = async () => {
  while (!stop) {
    const g = (nextGroup++ % groups) + 1
    const start = performance.now()
    for (let attempt = 0; !stop; attempt++) {
      try {
        const m = await nc.request(`flotilla.${args.cluster}.group.${g}`, payload, { timeout: 5000 })
        const text = decoder.decode(m.data)
        if (text.startsWith('{"count"')) break
        retries++ // NotLeader / Overloaded / ProposalFailed: retry
        if (process.env.BENCH_DEBUG) console.error(text)
      } catch {
        retries++ // no responders (election) or timeout
      }
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
await new Promise((r) => setTimeout(r, Number(args.warmup) * 1000))
measuring = true
const t0 = performance.now()
await new Promise((r) => setTimeout(r, Number(args.seconds) * 1000))
measuring = false
const elapsed = (performance.now() - t0) / 1000
stop = true
await Promise.all(workers)
await nc.close()
console.log(JSON.stringify({ opsPerSec: Math.round(done / elapsed), ...latency.summary(), errors, retries }))
