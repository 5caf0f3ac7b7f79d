/**
 * Runs `flotilla` commands in this process (the command tree of src/cli/Cli.ts), capturing what
 * they print through Effect's `Console`: far faster than a process per command.
 */
import { NodeContext } from "@effect/platform-node"
import { Console, Effect, Exit } from "effect"
import { run } from "../../../src/cli/Cli.js"

/** What a command printed and how it ended. */
export interface CliResult {
  readonly out: string
  readonly err: string
  /** The failure's message, undefined on success. */
  readonly failure: string | undefined
}

/** A Console that records what is printed (out: log and info, err: error and warn). */
export const capture = () => {
  const out: string[] = []
  const err: string[] = []
  const text = (args: ReadonlyArray<unknown>) => args.map(String).join(" ")
  const toOut = (...args: ReadonlyArray<unknown>) => Effect.sync(() => void out.push(text(args)))
  const toErr = (...args: ReadonlyArray<unknown>) => Effect.sync(() => void err.push(text(args)))
  const none = () => Effect.void
  const unsafeOut = (...args: ReadonlyArray<unknown>) => void out.push(text(args))
  const unsafeErr = (...args: ReadonlyArray<unknown>) => void err.push(text(args))
  const noop = () => {}
  const console: Console.Console = {
    [Console.TypeId]: Console.TypeId,
    assert: none,
    clear: Effect.void,
    count: none,
    countReset: none,
    debug: toOut,
    dir: toOut,
    dirxml: toOut,
    error: toErr,
    group: none,
    groupEnd: Effect.void,
    info: toOut,
    log: toOut,
    table: toOut,
    time: none,
    timeEnd: none,
    timeLog: none,
    trace: toErr,
    warn: toErr,
    unsafe: {
      assert: noop,
      clear: noop,
      count: noop,
      countReset: noop,
      debug: unsafeOut,
      dir: unsafeOut,
      dirxml: unsafeOut,
      error: unsafeErr,
      group: noop,
      groupCollapsed: noop,
      groupEnd: noop,
      info: unsafeOut,
      log: unsafeOut,
      table: unsafeOut,
      time: noop,
      timeEnd: noop,
      timeLog: noop,
      trace: unsafeErr,
      warn: unsafeErr,
    },
  }
  return { console, out, err }
}

/** Runs `flotilla <args...>` and resolves with its output. */
export const runCli = async (...args: string[]): Promise<CliResult> => {
  const { console, out, err } = capture()
  const exit = await Effect.runPromiseExit(
    run(["node", "flotilla", ...args]).pipe(Effect.withConsole(console), Effect.provide(NodeContext.layer)),
  )
  return {
    out: out.join("\n"),
    err: err.join("\n"),
    failure: Exit.isSuccess(exit) ? undefined : exit.cause.toString().split("\n")[0],
  }
}
