/**
 * Prometheus metrics without a global registry: histograms the runtime records into (one
 * array increment per observation), and metric families built at scrape time from counters the
 * node already keeps, written in the Prometheus text exposition format 0.0.4
 * (docs/decisions/0085-own-prometheus-exposition.md).
 */

/** A label set: name → value. */
export type Labels = Readonly<Record<string, string>>

/** One sample of a counter or gauge. */
export interface Sample {
  readonly labels?: Labels
  readonly value: number
}

/** A metric family as exposed: its samples (counter, gauge) or its histograms. */
export type Family =
  | {
      readonly name: string
      readonly help: string
      readonly type: "counter" | "gauge"
      readonly samples: ReadonlyArray<Sample>
    }
  | {
      readonly name: string
      readonly help: string
      readonly type: "histogram"
      readonly histograms: ReadonlyArray<{ readonly labels?: Labels; readonly histogram: Histogram }>
    }

/** Upper bounds (seconds) for latencies from 100 µs to 10 s. */
export const LATENCY_BUCKETS: ReadonlyArray<number> = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]

/** Upper bounds for counts (batch sizes) from 1 to 4,096. */
export const SIZE_BUCKETS: ReadonlyArray<number> = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]

/** A histogram of observations in fixed buckets (non-cumulative counts; cumulated on exposition). */
export class Histogram {
  readonly counts: number[]
  sum = 0
  count = 0

  constructor(readonly buckets: ReadonlyArray<number>) {
    this.counts = new Array<number>(buckets.length + 1).fill(0)
  }

  observe(value: number): void {
    const b = this.buckets
    let i = 0
    while (i < b.length && value > b[i]!) i++
    this.counts[i]!++
    this.sum += value
    this.count++
  }

  /** The value below which `q` (0..1) of the observations fall, as the bucket bound (an estimate). */
  quantile(q: number): number {
    if (this.count === 0) return 0
    const rank = q * this.count
    let seen = 0
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!
      if (seen >= rank) return this.buckets[Math.min(i, this.buckets.length - 1)]!
    }
    return this.buckets[this.buckets.length - 1]!
  }
}

/** Metric names and label names: `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')
const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

const labelText = (labels: Labels | undefined, extra?: string): string => {
  const parts: string[] = []
  if (labels !== undefined)
    for (const k in labels) {
      if (!NAME.test(k)) throw new Error(`invalid label name "${k}"`)
      parts.push(`${k}="${escapeLabel(labels[k]!)}"`)
    }
  if (extra !== undefined) parts.push(extra)
  return parts.length === 0 ? "" : `{${parts.join(",")}}`
}

const num = (v: number): string =>
  Number.isNaN(v) ? "NaN" : v === Infinity ? "+Inf" : v === -Infinity ? "-Inf" : String(v)

/** The families in the text exposition format (throws on an invalid metric or label name). */
export const exposition = (families: ReadonlyArray<Family>): string => {
  const out: string[] = []
  for (const f of families) {
    if (!NAME.test(f.name)) throw new Error(`invalid metric name "${f.name}"`)
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`)
    if (f.type !== "histogram") {
      for (const s of f.samples) out.push(`${f.name}${labelText(s.labels)} ${num(s.value)}`)
      continue
    }
    for (const { labels, histogram: h } of f.histograms) {
      let cumulative = 0
      for (let i = 0; i < h.buckets.length; i++) {
        cumulative += h.counts[i]!
        out.push(`${f.name}_bucket${labelText(labels, `le="${num(h.buckets[i]!)}"`)} ${cumulative}`)
      }
      out.push(`${f.name}_bucket${labelText(labels, 'le="+Inf"')} ${h.count}`)
      out.push(`${f.name}_sum${labelText(labels)} ${num(h.sum)}`)
      out.push(`${f.name}_count${labelText(labels)} ${h.count}`)
    }
  }
  out.push("")
  return out.join("\n")
}
