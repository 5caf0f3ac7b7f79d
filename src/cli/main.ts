#!/usr/bin/env node
/**
 * The `flotilla` command. `flotilla --help` lists the commands; each has its own `--help`.
 * Each command lives in `src/cli/commands/<name>.ts`.
 */
import { Command } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { bench } from "./commands/bench.js"
import { dev } from "./commands/dev.js"
import { kv } from "./commands/kv.js"
import { start } from "./commands/start.js"
import { status } from "./commands/status.js"

const flotilla = Command.make("flotilla").pipe(
  Command.withDescription("Flotilla: a multi-raft sharded actor runtime"),
  Command.withSubcommands([dev, start, kv, status, bench]),
)

const cli = Command.run(flotilla, { name: "flotilla", version: "0.1.0" })

cli(process.argv).pipe(
  Effect.tapErrorCause((cause) => Console.error(`flotilla: ${cause.toString().split("\n")[0]}`)),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: true }),
)
