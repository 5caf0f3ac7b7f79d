/**
 * Latency percentiles for the benchmarks (`flotilla bench`, Bench.ts, and the `npm run bench:*`
 * scripts in test/bench): Node's HDR histogram (`perf_hooks.createHistogram`), fed milliseconds
 * and holding nanoseconds, so memory stays flat however many samples a run takes. A percentile
 * is exact to three significant figures (the histogram's default precision).
 *
 * It lives in src/cli, its one production user; test/bench imports it from here (src may not
 * import test/).
 */
import { createHistogram, type RecordableHistogram } from "node:perf_hooks"

const NS_PER_MS = 1e6

/** A set of latencies in milliseconds. */
export class Histogram {
  private readonly ns: RecordableHistogram = createHistogram()

  /** Adds one latency; below a nanosecond counts as one. */
  record(ms: number): void {
    this.ns.record(Math.max(1, Math.round(ms * NS_PER_MS)))
  }

  /** Adds every latency of `other`. */
  add(other: Histogram): void {
    this.ns.add(other.ns)
  }

  /** The number of latencies recorded. */
  get count(): number {
    return this.ns.count
  }

  /** The `p`th percentile (0 < p <= 100; 100 is the largest) in ms; NaN when empty. */
  percentile(p: number): number {
    return this.count === 0 ? Number.NaN : this.ns.percentile(p) / NS_PER_MS
  }
}
