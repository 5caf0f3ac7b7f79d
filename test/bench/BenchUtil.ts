/**
 * Shared helpers for the `npm run bench:*` scripts: argument parsing, latency percentiles,
 * and output as JSON lines (`--json`, one object per line on stdout) or a human table.
 */

/** Parses `--name value`, `--name=value` and bare `--flag` arguments over the given defaults. */
export const parseArgs = (
  argv: readonly string[],
  defaults: Record<string, string | number | boolean>,
): Record<string, string | number | boolean> => {
  const out: Record<string, string | number | boolean> = { ...defaults, json: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (!a.startsWith("--")) throw new Error(`unexpected argument "${a}"`)
    const eq = a.indexOf("=")
    const name = a.slice(2, eq < 0 ? undefined : eq)
    if (!(name in out)) throw new Error(`unknown option --${name}; known: ${Object.keys(out).join(", ")}`)
    if (eq >= 0) out[name] = a.slice(eq + 1)
    else if (typeof out[name] === "boolean") out[name] = true
    else {
      const v = argv[++i]
      if (v === undefined) throw new Error(`--${name} needs a value`)
      out[name] = v
    }
  }
  return out
}

/** Collects latencies (ms) and reports percentiles. */
export class LatencyRecorder {
  private samples: number[] = []

  record(ms: number): void {
    this.samples.push(ms)
  }

  get count(): number {
    return this.samples.length
  }

  percentile(p: number): number {
    if (this.samples.length === 0) return Number.NaN
    const s = Float64Array.from(this.samples).sort()
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!
  }

  summary(): { p50Ms: number; p99Ms: number; maxMs: number } {
    const round = (x: number) => Math.round(x * 1000) / 1000
    return {
      p50Ms: round(this.percentile(50)),
      p99Ms: round(this.percentile(99)),
      maxMs: round(this.percentile(100)),
    }
  }
}

/** Prints results as JSON lines or as an aligned table of the chosen columns. */
export const printResults = (
  rows: readonly Record<string, unknown>[],
  json: boolean,
  columns: readonly string[],
) => {
  if (json) {
    for (const r of rows) console.log(JSON.stringify(r))
    return
  }
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)))
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join("  ")
  console.log(line(columns))
  for (const r of rows) console.log(line(columns.map((c) => String(r[c]))))
}
