/**
 * Shared helpers for the `npm run bench:*` scripts: numbers from `node:util` `parseArgs`
 * values, the latency fields of a result, and output as JSON lines (`--json`, one object per
 * line on stdout) or a human table; the CPU time of node processes (`cpuMs`). Latencies go in a `Histogram` (src/cli/Histogram.ts).
 */
import { readFileSync } from "node:fs"
import type { Histogram } from "../../src/cli/Histogram.js"

/** The number an option's text holds; throws naming the option when it holds none. */
export const numberOption = (name: string, text: string | undefined): number => {
  const n = Number(text)
  if (text === undefined || text.trim() === "" || !Number.isFinite(n))
    throw new Error(`--${name} needs a number, got ${JSON.stringify(text)}`)
  return n
}

/** `p50Ms`, `p99Ms` and `maxMs` of `h`, to the microsecond (null in JSON when it is empty). */
export const latencyFields = (h: Histogram): { p50Ms: number; p99Ms: number; maxMs: number } => {
  const round = (x: number) => Math.round(x * 1000) / 1000
  return { p50Ms: round(h.percentile(50)), p99Ms: round(h.percentile(99)), maxMs: round(h.percentile(100)) }
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

/** User + system CPU ms of `pids` (null off Linux). */
export const cpuMs = (pids: ReadonlyArray<number>): number | null => {
  try {
    let ticks = 0
    for (const pid of pids) {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
      ticks += Number(fields[11]) + Number(fields[12])
    }
    return ticks * 10 // USER_HZ is 100 on Linux
  } catch {
    return null
  }
}
