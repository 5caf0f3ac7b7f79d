#!/usr/bin/env node
/**
 * The `flotilla` command. `flotilla --help` lists the commands; each has its own `--help`.
 * The tree is in Cli.ts, each command in `src/cli/commands/<name>.ts`.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect } from "effect"
import { run } from "./Cli.js"

run(process.argv).pipe(
  Effect.tapErrorCause((cause) => Console.error(`flotilla: ${cause.toString().split("\n")[0]}`)),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: true }),
)
