/**
 * The little console of `flotilla dev`: commands typed on stdin, answered through the same
 * KV client as applications (so it works over the in-process bus too, where no other process
 * can reach the cluster).
 *
 *   put <key> <value>   get <key>   del <key>   scan [prefix]   status   help
 */
import { createInterface } from "node:readline"
import { Console, Effect, Option, Stream } from "effect"
import type { KvClientService } from "../client/KvClient.js"
import { toText } from "../client/KvClient.js"

/** The help text. */
export const HELP = "commands: put <key> <value> | get <key> | del <key> | scan [prefix] | status | help"

const show = (b: Uint8Array) => toText(b) ?? `base64:${Buffer.from(b).toString("base64")}`

/** Answers one line; never fails (errors are printed). */
export const handleLine = (
  kv: KvClientService,
  status: Effect.Effect<string, unknown>,
  line: string,
): Effect.Effect<void> => {
  const [command, ...rest] = line.trim().split(/\s+/)
  const arg = rest[0]
  const run = (): Effect.Effect<string, unknown> => {
    switch (command) {
      case undefined:
      case "":
        return Effect.succeed("")
      case "put":
        if (arg === undefined || rest.length < 2) return Effect.succeed("usage: put <key> <value>")
        return Effect.map(kv.put(arg, rest.slice(1).join(" ")), (r) => (r.created ? "created" : "updated"))
      case "get":
        if (arg === undefined) return Effect.succeed("usage: get <key>")
        return Effect.map(kv.get(arg), (v) => (Option.isSome(v) ? show(v.value) : "(absent)"))
      case "del":
        if (arg === undefined) return Effect.succeed("usage: del <key>")
        return Effect.map(kv.delete(arg), (r) => (r.deleted ? "deleted" : "(absent)"))
      case "scan":
        return Effect.map(kv.scan({ ...(arg === undefined ? {} : { prefix: arg }), limit: 50 }), (page) =>
          [
            ...page.entries.map((e) => `${show(e.key)}\t${show(e.value)}`),
            ...(Option.isSome(page.continuation) ? ["(more...)"] : []),
          ].join("\n"),
        )
      case "status":
        return status
      case "help":
        return Effect.succeed(HELP)
      default:
        return Effect.succeed(`unknown command "${command}"; ${HELP}`)
    }
  }
  return run().pipe(
    Effect.flatMap((out) => (out === "" ? Effect.void : Console.log(out))),
    Effect.catchAll((e) => Console.log(`error: ${e instanceof Error ? e.message : String(e)}`)),
  )
}

/** Reads commands from stdin until it ends or the scope closes. */
export const run = (kv: KvClientService, status: Effect.Effect<string, unknown>) =>
  Stream.async<string>((emit) => {
    const rl = createInterface({ input: process.stdin, terminal: false })
    rl.on("line", (line) => void emit.single(line))
    rl.on("close", () => void emit.end())
    return Effect.sync(() => rl.close())
  }).pipe(Stream.runForEach((line) => handleLine(kv, status, line)))
