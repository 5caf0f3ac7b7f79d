/**
 * The little console of `flotilla dev`: commands typed on stdin, answered through the same
 * KV client as applications (so it works over the in-process bus too, where no other process
 * can reach the cluster).
 *
 *   put <key> <value>   get <key>   del <key>   scan [prefix]   more   status   help
 *
 * Words are split as a shell would: `put "a key" 'a value'` stores the key `a key`; a backslash
 * escapes the next character. A command with too many or too few words answers its usage.
 * `scan` prints a page; `more` prints the next one.
 */
import { createInterface } from "node:readline"
import { Console, Effect, Option, Stream } from "effect"
import type { KvClientService } from "../client/KvClient.js"
import { toText } from "../client/KvClient.js"

/** The help text. */
export const HELP =
  "commands: put <key> <value> | get <key> | del <key> | scan [prefix] | more | status | help\n" +
  '(quote words with spaces: put "a key" "a value")'

/** Entries per page of `scan`. */
export const PAGE = 50

const show = (b: Uint8Array) => toText(b) ?? `base64:${Buffer.from(b).toString("base64")}`

/** The words of a line, split as a POSIX shell splits them (no expansion), or why not. */
export const splitWords = (line: string): string[] | { readonly error: string } => {
  const words: string[] = []
  let word: string | undefined
  let quote: '"' | "'" | undefined
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (quote === "'") {
      if (c === "'") quote = undefined
      else word = (word ?? "") + c
    } else if (quote === '"') {
      if (c === '"') quote = undefined
      else if (c === "\\" && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!))
        word = (word ?? "") + line[++i]
      else word = (word ?? "") + c
    } else if (c === "'" || c === '"') {
      quote = c
      word ??= ""
    } else if (c === "\\") {
      if (i + 1 >= line.length) return { error: "a backslash ends the line" }
      word = (word ?? "") + line[++i]
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word)
      word = undefined
    } else word = (word ?? "") + c
  }
  if (quote !== undefined) return { error: `unterminated ${quote} quote` }
  if (word !== undefined) words.push(word)
  return words
}

/** What the console remembers between lines: where `more` continues a scan. */
export interface ConsoleSession {
  next?: { readonly prefix: string | undefined; readonly after: Uint8Array }
}

const USAGE: Readonly<Record<string, readonly [number, number, string]>> = {
  put: [2, 2, "put <key> <value>"],
  get: [1, 1, "get <key>"],
  del: [1, 1, "del <key>"],
  scan: [0, 1, "scan [prefix]"],
  more: [0, 0, "more"],
  status: [0, 0, "status"],
  help: [0, 0, "help"],
}

const scanPage = (
  kv: KvClientService,
  session: ConsoleSession,
  prefix: string | undefined,
  after?: Uint8Array,
) =>
  Effect.map(
    kv.scan({
      ...(prefix === undefined ? {} : { prefix }),
      ...(after === undefined ? {} : { after }),
      limit: PAGE,
    }),
    (page) => {
      session.next = Option.isSome(page.continuation) ? { prefix, after: page.continuation.value } : undefined
      if (page.entries.length === 0) return after === undefined ? "(no keys)" : "(no more keys)"
      const lines = page.entries.map((e) => `${show(e.key)}\t${show(e.value)}`)
      if (session.next !== undefined) lines.push("(more: type `more` for the next page)")
      return lines.join("\n")
    },
  )

/** Answers one line; never fails (errors are printed). */
export const handleLine = (
  kv: KvClientService,
  status: Effect.Effect<string, unknown>,
  line: string,
  session: ConsoleSession = {},
): Effect.Effect<void> => {
  const run = (): Effect.Effect<string, unknown> => {
    const words = splitWords(line)
    if (!Array.isArray(words)) return Effect.succeed(`error: ${words.error}`)
    const [command, ...args] = words
    if (command === undefined) return Effect.succeed("")
    const usage = USAGE[command]
    if (usage === undefined) return Effect.succeed(`unknown command "${command}"; ${HELP}`)
    if (args.length < usage[0] || args.length > usage[1]) return Effect.succeed(`usage: ${usage[2]}`)
    switch (command) {
      case "put":
        return Effect.map(kv.put(args[0]!, args[1]!), (r) => (r.created ? "created" : "updated"))
      case "get":
        return Effect.map(kv.get(args[0]!), (v) => (Option.isSome(v) ? show(v.value) : "(absent)"))
      case "del":
        return Effect.map(kv.delete(args[0]!), (r) => (r.deleted ? "deleted" : "(absent)"))
      case "scan":
        return scanPage(kv, session, args[0])
      case "more":
        return session.next === undefined
          ? Effect.succeed("(nothing more: scan first)")
          : scanPage(kv, session, session.next.prefix, session.next.after)
      case "status":
        return status
      default:
        return Effect.succeed(HELP)
    }
  }
  return run().pipe(
    Effect.flatMap((out) => (out === "" ? Effect.void : Console.log(out))),
    Effect.catchAll((e) => Console.log(`error: ${e instanceof Error ? e.message : String(e)}`)),
  )
}

/** Reads commands from stdin until it ends or the scope closes. */
export const run = (kv: KvClientService, status: Effect.Effect<string, unknown>) => {
  const session: ConsoleSession = {}
  return Stream.async<string>((emit) => {
    const rl = createInterface({ input: process.stdin, terminal: false })
    rl.on("line", (line) => void emit.single(line))
    rl.on("close", () => void emit.end())
    return Effect.sync(() => rl.close())
  }).pipe(Stream.runForEach((line) => handleLine(kv, status, line, session)))
}
