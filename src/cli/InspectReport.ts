/**
 * What `flotilla inspect` prints: the report of `StoreInspection` with the node's identity and
 * group kinds, as text (a summary, a table of groups, details of one group, entries, problems)
 * or as one JSON document (`inspectJson`).
 */
import { describeConfState, describeEntry } from "../raft/Describe.js"
import type { Entry } from "../raft/Types.js"
import type { GroupReport, Problem, StoreReport } from "../storage/StoreInspection.js"
import { summarizeEntry } from "./InspectSummary.js"
import { table } from "./Table.js"

/** The identity file as stored (its token is left out: it is the node's registration secret). */
export type IdentityView =
  | { readonly cluster: string; readonly node: number | undefined; readonly bootstrapped: boolean }
  | { readonly error: string }
  | undefined

/** Everything printed. */
export interface Inspection {
  readonly store: StoreReport
  readonly identity: IdentityView
  readonly kinds: ReadonlyMap<number, string>
  /** `--group`: only this group, in detail. */
  readonly group: number | undefined
  /** `--entries`: the range decoded. */
  readonly entries: { readonly from: number; readonly to: number } | undefined
}

const MAX_DESCRIBE = 120

const clip = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}…` : text)

const plural = (n: number, word: string, words = `${word}s`): string => `${n} ${n === 1 ? word : words}`

/** One line per problem: `group 5 entry 17: checksum mismatch`. */
export const describeProblem = (p: Problem): string => {
  const where = p.group === undefined ? "store" : `group ${p.group}`
  const what = p.index === undefined ? p.record : `${p.record} ${p.index}`
  return `${where} ${what}: ${p.detail}`
}

const identityLine = (i: IdentityView): string => {
  if (i === undefined)
    return "identity: none (no identity.json: not a node started by `flotilla start`/`dev`)"
  if ("error" in i) return `identity: unreadable: ${i.error}`
  const node = i.node === undefined ? "no node id yet (it never finished joining)" : `node ${i.node}`
  return `identity: cluster "${i.cluster}", ${node}${i.bootstrapped ? ", bootstrapped the cluster" : ""}`
}

const shown = (x: Inspection): ReadonlyArray<GroupReport> =>
  x.group === undefined ? x.store.groups : x.store.groups.filter((g) => g.groupId === x.group)

const groupRow = (g: GroupReport, kind: string | undefined): string[] => [
  String(g.groupId),
  kind ?? "?",
  String(g.hardState?.term ?? 0),
  String(g.hardState?.vote ?? 0),
  String(g.hardState?.commit ?? 0),
  g.lastIndex < g.firstIndex ? `empty (${g.floor.index})` : `${g.firstIndex}..${g.lastIndex}`,
  String(g.entries),
  String(g.entryBytes),
  g.snapshot === undefined ? "-" : `${g.snapshot.index}/${g.snapshot.term} ${g.snapshot.size}B`,
  describeConfState(g.confState),
]

const groupDetails = (g: GroupReport): string[] => {
  const lines = [`group ${g.groupId}:`]
  const sweep =
    g.belowFloor === 0 ? "" : `; ${plural(g.belowFloor, "entry", "entries")} below it await deletion`
  lines.push(`  log floor ${g.floor.index}/${g.floor.term}${sweep}`)
  if (g.snapshot !== undefined)
    lines.push(
      `  snapshot ${g.snapshot.file}: index ${g.snapshot.index}, term ${g.snapshot.term}, ${g.snapshot.size} bytes, ` +
        describeConfState(g.snapshot.confState),
    )
  for (const c of g.confChanges)
    lines.push(
      `  conf change at ${c.index}: ${c.change}${c.committed ? "" : " (not committed)"}${c.refused ? ` (ignored: ${c.refused})` : ""}`,
    )
  return lines
}

const entryLines = (x: Inspection, g: GroupReport): string[] => {
  const r = x.entries!
  const head = `entries ${r.from}..${r.to} of group ${g.groupId} (held: ${g.lastIndex < g.firstIndex ? "none" : `${g.firstIndex}..${g.lastIndex}`}):`
  const lines = [head]
  const commit = g.hardState?.commit ?? 0
  for (const e of g.selected) {
    lines.push(`  ${clip(describeEntry(e), MAX_DESCRIBE)}${e.index > commit ? "  (not committed)" : ""}`)
    const summary = summarizeEntry(g.groupId, x.kinds.get(g.groupId), e)
    if (summary !== undefined) lines.push(`      ${summary}`)
  }
  if (g.selected.length === 0) lines.push("  (none of them is held)")
  return lines
}

/** The text report. */
export const inspectText = (x: Inspection): string => {
  const s = x.store
  const lines = [`data dir ${s.dir}`, identityLine(x.identity)]
  lines.push(
    `store: ${plural(s.instances, "LevelDB instance")}, ${plural(s.groups.length, "group")}, ` +
      `${plural(s.records, "record")}, ${plural(s.snapshotFiles, "snapshot file")}, ${s.diskBytes} bytes on disk`,
  )
  lines.push(
    `checked: the CRC-32 of every record and the header and data checksums of every snapshot file: ` +
      (s.problems.length === 0 ? "all good" : `${plural(s.problems.length, "problem")}`),
  )
  if (s.unreferencedFiles.length > 0)
    lines.push(
      `snapshot files no record points to (the next start deletes them): ${s.unreferencedFiles.join(", ")}`,
    )
  const groups = shown(x)
  lines.push(
    "",
    groups.length === 0
      ? x.group === undefined
        ? "no groups"
        : `group ${x.group}: not in this store`
      : table(
          ["GROUP", "KIND", "TERM", "VOTE", "COMMIT", "LOG", "ENTRIES", "BYTES", "SNAPSHOT", "CONF"],
          groups.map((g) => groupRow(g, x.kinds.get(g.groupId))),
        ),
  )
  if (x.group !== undefined) for (const g of groups) lines.push("", ...groupDetails(g))
  if (x.entries !== undefined) for (const g of groups) lines.push("", ...entryLines(x, g))
  if (s.problems.length > 0)
    lines.push("", `PROBLEMS (${s.problems.length}):`, ...s.problems.map((p) => `  ${describeProblem(p)}`))
  return lines.join("\n")
}

const entryJson = (x: Inspection, g: GroupReport, e: Entry) => ({
  index: e.index,
  term: e.term,
  committed: e.index <= (g.hardState?.commit ?? 0),
  type: e.type,
  bytes: e.data.length,
  text: clip(describeEntry(e), 1000),
  summary: summarizeEntry(g.groupId, x.kinds.get(g.groupId), e) ?? null,
})

const groupJson = (x: Inspection, g: GroupReport) => ({
  group: g.groupId,
  kind: x.kinds.get(g.groupId) ?? null,
  hardState: g.hardState ?? null,
  confState: g.confState,
  log: {
    first: g.firstIndex,
    last: g.lastIndex,
    entries: g.entries,
    bytes: g.entryBytes,
    floor: g.floor,
    belowFloor: g.belowFloor,
  },
  snapshot: g.snapshot ?? null,
  confChanges: g.confChanges,
  ...(x.entries === undefined ? {} : { entries: g.selected.map((e) => entryJson(x, g, e)) }),
})

/** The report as one JSON document. */
export const inspectJson = (x: Inspection): string => {
  const s = x.store
  return JSON.stringify({
    dataDir: s.dir,
    identity: x.identity ?? null,
    store: {
      instances: s.instances,
      records: s.records,
      snapshotFiles: s.snapshotFiles,
      diskBytes: s.diskBytes,
      unreferencedFiles: s.unreferencedFiles,
    },
    checked: "crc32 of every record; header and data checksums of every snapshot file",
    groups: shown(x).map((g) => groupJson(x, g)),
    problems: s.problems.map((p) => ({ ...p, text: describeProblem(p) })),
    ok: s.problems.length === 0,
  })
}
