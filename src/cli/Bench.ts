/**
 * The workload of `flotilla bench`: `clients` concurrent callers, each with one request
 * outstanding, reading and writing random keys through a `KvClient` for a fixed time, with a
 * progress line while it runs and a latency summary at the end.
 */
import { Effect, Either, Ref } from "effect"
import type { KvClientService } from "../client/KvClient.js"
import { Histogram } from "./Histogram.js"
import { duration } from "./Table.js"

/** What to run. */
export interface BenchOptions {
  readonly clients: number
  readonly seconds: number
  readonly keys: number
  readonly valueBytes: number
  /** Fraction of reads, 0 .. 1. */
  readonly reads: number
  readonly staleReads: boolean
}

/** Percentiles of a set of latencies, in ms (NaN for none). */
export interface Latency {
  readonly count: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
}

/** The outcome. */
export interface BenchResult {
  readonly ops: number
  readonly seconds: number
  readonly opsPerSec: number
  /** Failed operations by error tag. */
  readonly errors: Readonly<Record<string, number>>
  readonly all: Latency
  readonly reads: Latency
  readonly writes: Latency
  /** Every key a write was attempted on (a failed write may still have applied). */
  readonly written: ReadonlySet<string>
}

/** The percentiles of `h` (NaN when it is empty). */
const latencyOf = (h: Histogram): Latency => ({
  count: h.count,
  p50: h.percentile(50),
  p90: h.percentile(90),
  p99: h.percentile(99),
  max: h.percentile(100),
})

/** A progress report, every few hundred milliseconds. */
export interface Progress {
  readonly elapsedMs: number
  readonly totalMs: number
  readonly ops: number
  readonly errors: number
}

/** Runs the workload; `onProgress` is called about four times a second. */
export const run = (
  kv: KvClientService,
  o: BenchOptions,
  onProgress: (p: Progress) => Effect.Effect<void>,
): Effect.Effect<BenchResult> =>
  Effect.gen(function* () {
    const reads = new Histogram()
    const writes = new Histogram()
    const errors: Record<string, number> = {}
    let errorCount = 0
    const value = new Uint8Array(o.valueBytes).fill(0x61)
    const start = performance.now()
    const totalMs = o.seconds * 1000
    const stop = yield* Ref.make(false)
    const written = new Set<string>()
    const worker = (id: number) =>
      Effect.gen(function* () {
        let seed = (id + 1) * 0x9e3779b1
        const random = () => {
          seed = (seed ^ (seed << 13)) >>> 0
          seed = (seed ^ (seed >>> 17)) >>> 0
          seed = (seed ^ (seed << 5)) >>> 0
          return seed / 0x1_0000_0000
        }
        while (!(yield* Ref.get(stop))) {
          const key = `bench-${Math.floor(random() * o.keys)}`
          const read = random() < o.reads
          if (!read) written.add(key)
          const t0 = performance.now()
          const r = yield* Effect.either(
            read
              ? Effect.asVoid(kv.get(key, { staleRead: o.staleReads }))
              : Effect.asVoid(kv.put(key, value)),
          )
          const ms = performance.now() - t0
          if (Either.isLeft(r)) {
            errorCount++
            errors[r.left._tag] = (errors[r.left._tag] ?? 0) + 1
          } else (read ? reads : writes).record(ms)
        }
      })
    const workers = yield* Effect.fork(
      Effect.forEach(
        Array.from({ length: o.clients }, (_, i) => i),
        worker,
        {
          concurrency: "unbounded",
          discard: true,
        },
      ),
    )
    for (;;) {
      const elapsedMs = performance.now() - start
      yield* onProgress({ elapsedMs, totalMs, ops: reads.count + writes.count, errors: errorCount })
      if (elapsedMs >= totalMs) break
      yield* Effect.sleep(Math.min(250, totalMs - elapsedMs))
    }
    yield* Ref.set(stop, true)
    yield* workers.await
    const seconds = (performance.now() - start) / 1000
    const all = new Histogram()
    all.add(reads)
    all.add(writes)
    const ops = reads.count + writes.count
    return {
      ops,
      seconds,
      opsPerSec: ops / seconds,
      errors,
      all: latencyOf(all),
      reads: latencyOf(reads),
      writes: latencyOf(writes),
      written,
    }
  })

/** A progress bar line: `[#####.....]  52%  8123 ops  3912 ops/s`. */
export const progressLine = (p: Progress, width = 30): string => {
  const done = Math.min(1, p.elapsedMs / p.totalMs)
  const filled = Math.round(done * width)
  const rate = p.elapsedMs > 0 ? Math.round((p.ops * 1000) / p.elapsedMs) : 0
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(Math.round(done * 100)).padStart(3)}%  ${p.ops} ops  ${rate} ops/s${p.errors > 0 ? `  ${p.errors} errors` : ""}`
}

const ms = (x: number) => (x < 10 ? `${x.toFixed(2)}ms` : duration(x))
const line = (name: string, l: Latency) =>
  `${name.padEnd(8)}${String(l.count).padStart(9)}   p50 ${ms(l.p50)}  p90 ${ms(l.p90)}  p99 ${ms(l.p99)}  max ${ms(l.max)}`

/** The summary printed at the end. */
export const summary = (o: BenchOptions, r: BenchResult): string => {
  const errors = Object.entries(r.errors)
  return [
    `bench: ${o.clients} clients, ${r.seconds.toFixed(1)} s, ${o.keys} keys, ${o.valueBytes}-byte values, ${Math.round(o.reads * 100)}% reads${o.staleReads ? " (stale)" : ""}`,
    `throughput  ${Math.round(r.opsPerSec)} ops/s (${r.ops} ops)`,
    `errors      ${errors.length === 0 ? "none" : errors.map(([k, v]) => `${k} ${v}`).join(", ")}`,
    "latency",
    line("  all", r.all),
    line("  reads", r.reads),
    line("  writes", r.writes),
  ].join("\n")
}

/**
 * Deletes the keys a run wrote (`flotilla bench` does, unless `--keep`), `concurrency` at a
 * time; resolves with how many it deleted and the keys it could not.
 */
export const removeKeys = (
  kv: KvClientService,
  keys: Iterable<string>,
  concurrency: number,
): Effect.Effect<{ readonly deleted: number; readonly failed: ReadonlyArray<string> }> =>
  Effect.gen(function* () {
    let deleted = 0
    const failed: string[] = []
    yield* Effect.forEach(
      keys,
      (key) =>
        Effect.either(kv.delete(key)).pipe(
          Effect.flatMap((r) =>
            Effect.sync(() => {
              if (Either.isLeft(r)) failed.push(key)
              else if (r.right.deleted) deleted++
            }),
          ),
        ),
      { concurrency, discard: true },
    )
    return { deleted, failed }
  })
