/**
 * The `flotilla` command tree: one module per command in `src/cli/commands/`. `main.ts` runs it
 * on the process's arguments; tests run it in-process (`run`).
 */
import { Command } from "@effect/cli"
import { bench } from "./commands/bench.js"
import { dev } from "./commands/dev.js"
import { keyspace } from "./commands/keyspace.js"
import { kv } from "./commands/kv.js"
import { security } from "./commands/security.js"
import { start } from "./commands/start.js"
import { status } from "./commands/status.js"

/** The root command. */
export const flotilla = Command.make("flotilla").pipe(
  Command.withDescription("Flotilla: a multi-raft sharded actor runtime"),
  Command.withSubcommands([dev, start, kv, keyspace, status, bench, security]),
)

/** Runs the command line `argv` (`["node", "flotilla", ...args]`). */
export const run = Command.run(flotilla, { name: "flotilla", version: "0.1.0" })
