#!/usr/bin/env node
/**
 * The `flotilla` command. `flotilla --help` lists the commands; each has its own `--help`.
 * The tree is in Cli.ts, each command in `src/cli/commands/<name>.ts`. A failure is printed
 * once, as one line (Failure.ts); `--verbose`, anywhere before `--`, adds its causes. Output
 * that is not a colour terminal (a pipe, a file, `NO_COLOR`) carries no ANSI escapes.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Console, Effect } from "effect"
import { run } from "./Cli.js"
import { failureLines, stripAnsi } from "./Failure.js"
import { terminalStyle } from "./Help.js"
import { runMain } from "./RunMain.js"

const end = process.argv.indexOf("--")
const isVerbose = (a: string, i: number) => a === "--verbose" && (end < 0 || i < end)
const verbose = process.argv.some(isVerbose)
const argv = process.argv.filter((a, i) => !isVerbose(a, i))

const plain = (text: unknown) => (typeof text === "string" ? stripAnsi(text) : text)

Effect.gen(function* () {
  const base = yield* Console.consoleWith(Effect.succeed)
  const color = { out: terminalStyle(process.stdout).color, err: terminalStyle(process.stderr).color }
  const console: Console.Console = {
    ...base,
    log: (...args) => base.log(...(color.out ? args : args.map(plain))),
    error: (...args) => base.error(...(color.err ? args : args.map(plain))),
  }
  return yield* run(argv).pipe(
    Effect.tapErrorCause((cause) => Effect.forEach(failureLines(cause, verbose), (l) => Console.error(l))),
    Effect.withConsole(console),
  )
}).pipe(Effect.provide(NodeContext.layer), runMain)
