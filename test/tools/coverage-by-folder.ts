/**
 * Line coverage per folder, from the `json-summary` report of `npm run coverage`
 * (coverage/coverage-summary.json): a Markdown table for docs/testing.md and one JSON line.
 * Fails when `src/raft` is below 90% of its lines (issue 16's floor for the core).
 *
 *   tsx test/tools/coverage-by-folder.ts [coverage/coverage-summary.json]
 */
import { readFileSync } from "node:fs"
import { relative, resolve } from "node:path"

interface Totals {
  readonly total: number
  readonly covered: number
}
type Summary = Record<string, { readonly lines: Totals }>

const RAFT_FLOOR_PCT = 90

const file = resolve(process.argv[2] ?? "coverage/coverage-summary.json")
let summary: Summary
try {
  summary = JSON.parse(readFileSync(file, "utf8")) as Summary
} catch (e) {
  console.error(`coverage-by-folder: cannot read ${file}: ${String(e)} (run npm run coverage first)`)
  process.exit(2)
}

/** `src/runtime/entity/Wire.ts` → `src/runtime`; `shards/kv/Kv.ts` → `shards/kv`. */
const folderOf = (path: string): string => path.split("/").slice(0, 2).join("/")

const folders = new Map<string, { total: number; covered: number }>()
for (const [path, entry] of Object.entries(summary)) {
  if (path === "total") continue
  const folder = folderOf(relative(process.cwd(), path))
  const t = folders.get(folder) ?? { total: 0, covered: 0 }
  t.total += entry.lines.total
  t.covered += entry.lines.covered
  folders.set(folder, t)
}

const pct = (t: Totals) => (t.total === 0 ? 100 : (100 * t.covered) / t.total)
const rows = [...folders.entries()].sort(([a], [b]) => a.localeCompare(b))
console.log("| folder | lines | covered | % |")
console.log("| --- | ---: | ---: | ---: |")
for (const [folder, t] of rows)
  console.log(`| \`${folder}\` | ${t.total} | ${t.covered} | ${pct(t).toFixed(1)} |`)
const all = summary.total?.lines
if (all !== undefined) console.log(`| all | ${all.total} | ${all.covered} | ${pct(all).toFixed(1)} |`)
console.log(
  JSON.stringify({
    coverage: "lines",
    folders: Object.fromEntries(rows.map(([f, t]) => [f, Number(pct(t).toFixed(1))])),
    ...(all === undefined ? {} : { all: Number(pct(all).toFixed(1)) }),
  }),
)
const raft = folders.get("src/raft")
if (raft === undefined || pct(raft) < RAFT_FLOOR_PCT) {
  console.error(
    `coverage-by-folder: src/raft covers ${raft === undefined ? "no" : `${pct(raft).toFixed(1)}% of`} lines, below ${RAFT_FLOOR_PCT}%`,
  )
  process.exit(1)
}
