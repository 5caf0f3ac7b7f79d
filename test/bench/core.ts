/**
 * bench:core — the Raft core alone: three replicas of one group in one process, no disk
 * (MemoryStorage), messages handed over in memory, 64-byte payloads. Closed-loop clients keep
 * 1 or 64 proposals outstanding; a proposal completes when the leader applies it.
 *
 *   npm run bench:core            # human table
 *   npm run bench:core -- --json  # one JSON line per client count
 *   options: --seconds N (default 5), --warmup N (default 1), --clients 1,64
 */
import { performance } from "node:perf_hooks"
import { parseArgs } from "node:util"
import { Histogram } from "../../src/cli/Histogram.js"
import { MemoryStorage, type Message, RawNode, type ReplicaId } from "../../src/raft/index.js"
import { latencyFields, numberOption, printResults } from "./BenchUtil.js"

interface Replica {
  readonly raw: RawNode
  readonly storage: MemoryStorage
  applied: number
}

const PAYLOAD = new Uint8Array(64).fill(7)
const ids = [1, 2, 3] as ReplicaId[]

const makeCluster = (): Replica[] =>
  ids.map((id) => {
    const storage = new MemoryStorage()
    const raw = RawNode.bootstrap({ id, storage, electionTick: 10, heartbeatTick: 1 }, { voters: ids })
    if ("_tag" in raw) throw new Error(raw.reason)
    return { raw, storage, applied: 0 }
  })

/** Runs `clients` closed-loop clients for `seconds` (after `warmup`); returns entries/s and latencies. */
const runCase = (clients: number, seconds: number, warmup: number) => {
  const replicas = makeCluster()
  const byId = new Map(replicas.map((r) => [r.raw.id, r]))
  let inbox: Message[] = []
  const deliver = (msgs: readonly Message[]) => {
    for (const m of msgs) inbox.push(m)
  }
  /** Handles every pending Ready once; calls onApplied for entries the leader applies. */
  const processReadies = (onApplied: (index: number, term: number) => void): boolean => {
    let any = false
    for (const r of replicas) {
      if (!r.raw.hasReady()) continue
      any = true
      const rd = r.raw.ready()
      deliver(rd.messages)
      if (rd.snapshot) r.storage.applySnapshot(rd.snapshot)
      r.storage.append(rd.entries)
      if (rd.hardState) r.storage.setHardState(rd.hardState)
      deliver(rd.persistedMessages)
      const leader = r.raw.isLeader
      for (const e of rd.committedEntries) {
        r.applied = e.index
        if (leader) onApplied(e.index, e.term)
      }
      r.raw.advance(rd)
      // Keep memory flat: compact the log well behind the applied index.
      if (r.applied - r.storage.firstIndex() > 200_000) {
        r.storage.createSnapshot(r.applied, r.raw.confState(), new Uint8Array(0))
        r.storage.compact(r.applied - 50_000)
      }
    }
    return any
  }
  const deliverAll = () => {
    const batch = inbox
    inbox = []
    for (const m of batch) byId.get(m.to)!.raw.step(m)
  }

  // Apply the bootstrap configuration, then elect replica 1.
  processReadies(() => {})
  replicas[0]!.raw.campaign()
  for (let i = 0; i < 100 && !replicas[0]!.raw.isLeader; i++) {
    processReadies(() => {})
    deliverAll()
  }
  const leader = replicas[0]!.raw
  if (!leader.isLeader) throw new Error("no leader")

  // Outstanding proposals: index → start time (term is the leader's, fixed for the run).
  const started = new Map<number, number>()
  const term = leader.term
  const propose = () => {
    const r = leader.propose(PAYLOAD)
    if (r._tag !== "Proposed") throw new Error(`proposal dropped: ${r.reason}`)
    started.set(r.index, performance.now())
  }
  const latency = new Histogram()
  let completed = 0
  let measuring = false
  const onApplied = (index: number, t: number) => {
    const s = started.get(index)
    if (s === undefined || t !== term) return
    started.delete(index)
    if (measuring) {
      completed++
      latency.record(performance.now() - s)
    }
    propose()
  }
  for (let c = 0; c < clients; c++) propose()

  const t0 = performance.now()
  let tStart = t0
  const tEnd = t0 + (warmup + seconds) * 1000
  let now = t0
  let loops = 0
  while (now < tEnd) {
    processReadies(onApplied)
    deliverAll()
    if ((++loops & 63) === 0) {
      now = performance.now()
      if (!measuring && now - t0 >= warmup * 1000) {
        measuring = true
        tStart = now
      }
    }
  }
  const elapsed = (performance.now() - tStart) / 1000
  return { entriesPerSec: Math.round(completed / elapsed), ...latencyFields(latency) }
}

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    seconds: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    clients: { type: "string", default: "1,64" },
    json: { type: "boolean", default: false },
  },
})
const results = args.clients
  .split(",")
  .map((c) => numberOption("clients", c))
  .map((clients) => ({
    bench: "core",
    clients,
    payloadBytes: PAYLOAD.length,
    replicas: 3,
    ...runCase(clients, numberOption("seconds", args.seconds), numberOption("warmup", args.warmup)),
  }))
printResults(results, args.json, ["clients", "entriesPerSec", "p50Ms", "p99Ms"])
