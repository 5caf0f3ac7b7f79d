#!/usr/bin/env node
/**
 * The `flotilla` command. `flotilla --help` lists the commands; each has its own `--help`.
 * The tree is in Cli.ts, each command in `src/cli/commands/<name>.ts`.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Cause, Console, Effect } from "effect"
import { run } from "./Cli.js"
import { runMain } from "./RunMain.js"

run(process.argv).pipe(
  Effect.tapErrorCause((cause) =>
    Cause.isInterruptedOnly(cause)
      ? Effect.void
      : Console.error(`flotilla: ${cause.toString().split("\n")[0]}`),
  ),
  Effect.provide(NodeContext.layer),
  runMain,
)
