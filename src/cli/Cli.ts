/**
 * The `flotilla` command tree: one module per command in `src/cli/commands/`. `main.ts` runs it
 * on the process's arguments; tests run it in-process (`run`). `--help` is answered by Help.ts,
 * every other argument list by @effect/cli.
 */
import { Command } from "@effect/cli"
import { Console, Effect } from "effect"
import { bench } from "./commands/bench.js"
import { dev } from "./commands/dev.js"
import { group } from "./commands/group.js"
import { inspect } from "./commands/inspect.js"
import { keyspace } from "./commands/keyspace.js"
import { kv } from "./commands/kv.js"
import { nemesis } from "./commands/nemesis.js"
import { node } from "./commands/node.js"
import { security } from "./commands/security.js"
import { start } from "./commands/start.js"
import { status } from "./commands/status.js"
import { describeCommand, findCommand, renderHelp, terminalStyle } from "./Help.js"

/** The root command. */
export const flotilla = Command.make("flotilla").pipe(
  Command.withDescription("Flotilla: a multi-raft sharded actor runtime"),
  Command.withSubcommands([dev, start, kv, keyspace, node, group, status, bench, nemesis, security, inspect]),
)

const runParsed = Command.run(flotilla, { name: "flotilla", version: "0.1.0" })

/** Runs the command line `argv` (`["node", "flotilla", ...args]`). */
export const run = (argv: ReadonlyArray<string>) => {
  const args = argv.slice(2)
  const end = args.indexOf("--")
  const head = end < 0 ? args : args.slice(0, end)
  const { command, path } = findCommand(describeCommand(flotilla), head)
  // Help when asked, and for a command group named without one of its commands (`flotilla kv`).
  const words = head.filter((a) => !a.startsWith("-"))
  const groupOnly = command.children.length > 0 && words.length === path.length - 1
  const asked = head.includes("--help") || head.includes("-h")
  if (!asked && !(groupOnly && !head.includes("--version"))) return runParsed(argv)
  return Console.log(renderHelp(command, path, terminalStyle(process.stdout))).pipe(Effect.asVoid)
}
