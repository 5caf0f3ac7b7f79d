/**
 * Storage benchmark (not a test): durable entries per second through the LevelDB `LogStore`.
 *
 *   npm run bench:storage -- [--json] [--seconds 5] [--entries 2] [--window 2] [--dir /path]
 *
 * Cases, each on a fresh store:
 * - `batched`, G = 1, 100, 1000 groups: an engine loop; each round every group appends
 *   `entriesPerGroupPerBatch` entries of 128 bytes plus its hard state, and the round is ONE
 *   `write` call. The engine keeps at most `roundsInFlight` rounds submitted and not yet
 *   durable (1: each round awaited before the next is built; 2: round N+1 is built and handed
 *   to the store while round N syncs, so the store encodes it meanwhile and writes it next).
 * - `per-group-sync`, G = 1000: the baseline without batching: every group appends the same
 *   entries with its own synced write (store opened with `groupCommit: false`), all groups
 *   concurrently, each waiting for its previous write.
 *
 * `entriesPerSec` counts entries acknowledged durable; `syncsPerSec` counts synced batches
 * (LevelDB may merge concurrent per-group writes into fewer fsyncs); `p99SyncMs` is the 99th
 * percentile of one `write` call's latency, from submit to durable.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { Effect, Fiber } from "effect"
import { Histogram } from "../../src/cli/Histogram.js"
import { GroupId } from "../../src/raft/Ids.js"
import { type Entry, EntryType, type ReplicaId } from "../../src/raft/Types.js"
import { type GroupUpdate, LogStore, layerLevel } from "../../src/storage/LogStore.js"
import type { WriteError } from "../../src/storage/StoreErrors.js"
import { numberOption } from "./BenchUtil.js"

const { values: args } = parseArgs({
  args: process.argv.slice(2),
  options: {
    seconds: { type: "string", default: "5" },
    entries: { type: "string", default: "2" },
    window: { type: "string", default: "2" },
    dir: { type: "string", default: tmpdir() },
    json: { type: "boolean", default: false },
  },
})
const json = args.json
const seconds = numberOption("seconds", args.seconds)
const perRound = numberOption("entries", args.entries)
const window = numberOption("window", args.window)
const baseDir = args.dir
const ENTRY_BYTES = 128

interface Result {
  readonly bench: "storage"
  readonly groups: number
  readonly mode: "batched" | "per-group-sync"
  readonly entryBytes: number
  readonly entriesPerGroupPerBatch: number
  readonly roundsInFlight: number
  readonly entriesPerSec: number
  readonly syncsPerSec: number
  readonly p99SyncMs: number
  readonly seconds: number
}

const payload = (g: number): Uint8Array => {
  const data = new Uint8Array(ENTRY_BYTES)
  for (let k = 0; k < ENTRY_BYTES; k++) data[k] = (g * 31 + k * 7) & 0xff
  return data
}

/** Builds the next update of a group: `perRound` entries after `last`, and the hard state. */
const nextUpdate = (groupId: GroupId, last: number, data: Uint8Array): GroupUpdate => {
  const entries: Entry[] = new Array(perRound)
  for (let k = 0; k < perRound; k++)
    entries[k] = { index: last + 1 + k, term: 1, type: EntryType.Normal, data }
  return { groupId, entries, hardState: { term: 1, vote: 1 as ReplicaId, commit: last } }
}

const batched = (groups: number) =>
  Effect.gen(function* () {
    const store = yield* LogStore
    const ids = Array.from({ length: groups }, (_, g) => GroupId(g + 1))
    const data = ids.map(payload)
    let last = 0
    const latencies = new Histogram()
    const inFlight: Array<Fiber.RuntimeFiber<number, WriteError>> = []
    const submit = () => {
      const updates = ids.map((g, k) => nextUpdate(g, last, data[k]!))
      last += perRound
      const t = performance.now()
      return Effect.fork(Effect.as(store.write(updates), t))
    }
    const run = (until: number, measure: boolean) =>
      Effect.gen(function* () {
        while (performance.now() < until) {
          inFlight.push(yield* submit())
          if (inFlight.length >= window) {
            const t = yield* Fiber.join(inFlight.shift()!)
            if (measure) latencies.record(performance.now() - t)
          }
        }
      })
    yield* run(performance.now() + 300, false)
    const before = yield* store.stats
    const start = performance.now()
    yield* run(start + seconds * 1000, true)
    while (inFlight.length > 0) latencies.record(performance.now() - (yield* Fiber.join(inFlight.shift()!)))
    const elapsed = (performance.now() - start) / 1000
    const after = yield* store.stats
    return result(
      groups,
      "batched",
      (after.entries - before.entries) / elapsed,
      (after.batches - before.batches) / elapsed,
      latencies,
    )
  })

const perGroupSync = (groups: number) =>
  Effect.gen(function* () {
    const store = yield* LogStore
    const ids = Array.from({ length: groups }, (_, g) => GroupId(g + 1))
    const latencies = new Histogram()
    let measuring = false
    let stop = false
    const loop = (g: GroupId, k: number) =>
      Effect.gen(function* () {
        const data = payload(k)
        let last = 0
        while (!stop) {
          const t = performance.now()
          yield* store.write([nextUpdate(g, last, data)])
          if (measuring) latencies.record(performance.now() - t)
          last += perRound
        }
      })
    const fibers = yield* Effect.forEach(ids, (g, k) => Effect.fork(loop(g, k)))
    yield* Effect.sleep(300)
    const before = yield* store.stats
    measuring = true
    const start = performance.now()
    yield* Effect.sleep(seconds * 1000)
    const elapsed = (performance.now() - start) / 1000
    const after = yield* store.stats
    measuring = false
    stop = true
    yield* Effect.forEach(fibers, (f) => f.await, { discard: true })
    return result(
      groups,
      "per-group-sync",
      (after.entries - before.entries) / elapsed,
      (after.batches - before.batches) / elapsed,
      latencies,
    )
  })

const result = (
  groups: number,
  mode: Result["mode"],
  entriesPerSec: number,
  syncsPerSec: number,
  latencies: Histogram,
): Result => ({
  bench: "storage",
  groups,
  mode,
  entryBytes: ENTRY_BYTES,
  entriesPerGroupPerBatch: perRound,
  roundsInFlight: mode === "batched" ? window : 1,
  entriesPerSec: Math.round(entriesPerSec),
  syncsPerSec: Math.round(syncsPerSec * 10) / 10,
  p99SyncMs: latencies.count === 0 ? 0 : Math.round(latencies.percentile(99) * 100) / 100,
  seconds,
})

const runCase = (mode: Result["mode"], groups: number): Promise<Result> => {
  const dir = mkdtempSync(join(baseDir, "flotilla-bench-storage-"))
  const body = mode === "batched" ? batched(groups) : perGroupSync(groups)
  const program = body.pipe(Effect.provide(layerLevel(dir, { groupCommit: mode === "batched" })))
  return Effect.runPromise(program).finally(() => rmSync(dir, { recursive: true, force: true }))
}

const main = async () => {
  const results: Result[] = []
  for (const groups of [1, 100, 1000]) results.push(await runCase("batched", groups))
  results.push(await runCase("per-group-sync", 1000))
  for (const r of results) {
    if (json) console.log(JSON.stringify(r))
    else
      console.log(
        `${r.mode.padEnd(15)} groups=${String(r.groups).padStart(4)} entries/s=${String(r.entriesPerSec).padStart(8)} syncs/s=${String(r.syncsPerSec).padStart(7)} p99=${r.p99SyncMs} ms`,
      )
  }
  const batched1000 = results.find((r) => r.mode === "batched" && r.groups === 1000)!
  const baseline = results.find((r) => r.mode === "per-group-sync")!
  const speedup = batched1000.entriesPerSec / Math.max(1, baseline.entriesPerSec)
  const line = `batching speed-up at 1000 groups: ${speedup.toFixed(1)}x (target >= 8x), ${batched1000.entriesPerSec} durable entries/s (target >= 100000)`
  if (json) console.error(line)
  else console.log(line)
}

main().catch((e: unknown) => {
  console.error(e)
  process.exit(1)
})
