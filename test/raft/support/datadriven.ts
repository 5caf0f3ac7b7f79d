/**
 * A small datadriven test format, in the style of cockroachdb/datadriven (which etcd-io/raft
 * uses): a file is a sequence of cases, each a command line, a `----` separator and the
 * expected output, ended by a blank line. Lines starting with `#` before a command are
 * comments. Outputs never contain blank lines. With `FLOTILLA_REWRITE=1` the runner rewrites
 * the file with the actual outputs (goldens), keeping comments and commands.
 */
import { readFileSync, writeFileSync } from "node:fs"

export interface Command {
  readonly name: string
  /** Positional arguments. */
  readonly args: readonly string[]
  /** `key=value` and `key=(a,b,c)` arguments (parentheses removed, commas kept). */
  readonly kv: ReadonlyMap<string, string>
  /** Where the command is, for failure messages. */
  readonly line: number
}

export interface Case {
  readonly comments: readonly string[]
  readonly command: Command
  readonly raw: string
  readonly expected: string
}

const parseCommand = (raw: string, line: number): Command => {
  const tokens = raw.trim().match(/[^\s=]+=\([^)]*\)|\S+/g) ?? []
  const [name, ...rest] = tokens
  const args: string[] = []
  const kv = new Map<string, string>()
  for (const t of rest) {
    const eq = t.indexOf("=")
    if (eq > 0) kv.set(t.slice(0, eq), t.slice(eq + 1).replace(/^\((.*)\)$/, "$1"))
    else args.push(t)
  }
  return { name: name ?? "", args, kv, line }
}

export const parseFile = (text: string): Case[] => {
  const lines = text.split("\n")
  const cases: Case[] = []
  let i = 0
  while (i < lines.length) {
    const comments: string[] = []
    while (i < lines.length && (lines[i]!.trim() === "" || lines[i]!.startsWith("#"))) {
      if (lines[i]!.startsWith("#")) comments.push(lines[i]!)
      else comments.length = 0
      i++
    }
    if (i >= lines.length) break
    const raw = lines[i]!
    const line = i + 1
    i++
    if (lines[i] !== "----") throw new Error(`line ${line}: expected ---- after "${raw}"`)
    i++
    const out: string[] = []
    while (i < lines.length && lines[i]!.trim() !== "") out.push(lines[i++]!)
    cases.push({ comments, command: parseCommand(raw, line), raw, expected: out.join("\n") })
  }
  return cases
}

export const formatFile = (
  cases: readonly { comments: readonly string[]; raw: string; output: string }[],
): string => `${cases.map((c) => [...c.comments, c.raw, "----", c.output].join("\n")).join("\n\n")}\n`

/** Runs every case of `path` through `run`; returns mismatches (or rewrites the file). */
export const runFile = (
  path: string,
  run: (c: Command) => string,
): { line: number; raw: string; want: string; got: string }[] => {
  const cases = parseFile(readFileSync(path, "utf8"))
  const results = cases.map((c) => {
    let output: string
    try {
      output = run(c.command).trimEnd()
    } catch (e) {
      output = `error: ${(e as Error).message}`
    }
    if (output === "") output = "ok"
    if (/\n\s*\n/.test(output)) throw new Error(`line ${c.command.line}: output contains a blank line`)
    return { ...c, output }
  })
  if (process.env.FLOTILLA_REWRITE === "1") {
    writeFileSync(path, formatFile(results))
    return []
  }
  return results
    .filter((r) => r.output !== r.expected)
    .map((r) => ({ line: r.command.line, raw: r.raw, want: r.expected, got: r.output }))
}
