/**
 * How the `flotilla` process runs its command and stops (docs/cli.md, "Stopping"):
 *
 * - The first SIGINT (Ctrl-C) or SIGTERM interrupts the command, which then stops cleanly
 *   (`flotilla start` prints `{"event":"stopped",…}`, `flotilla dev` "stopped; …"); the process
 *   says on stderr that it is stopping and that a second Ctrl-C forces.
 * - A signal that arrives within `duplicateWindowMs` of the first is the same Ctrl-C delivered
 *   twice and is ignored: a terminal sends SIGINT to the whole foreground process group and
 *   `npm start` forwards it to its child as well, so the node process receives it twice in a
 *   few milliseconds (that killed `npm start` without its clean-stop line before).
 * - A later signal forces: the process says that the stop was not finished and exits with 130.
 *
 * Effect's `NodeRuntime.runMain` does the first part, but a second signal there hits Node's
 * default handler and the process dies without a word.
 */
import { makeRunMain } from "@effect/platform/Runtime"
import type { Effect } from "effect"

/** The process as the runner sees it (a fake in tests). */
export interface MainProcess {
  readonly on: (signal: "SIGINT" | "SIGTERM", listener: () => void) => void
  readonly off: (signal: "SIGINT" | "SIGTERM", listener: () => void) => void
  readonly exit: (code: number) => void
  readonly stderr: (line: string) => void
  readonly now: () => number
}

export interface RunMainOptions {
  /** Signals this close to the first one are duplicates of it (default 1000 ms). */
  readonly duplicateWindowMs?: number
  /** The process (default: Node's). */
  readonly process?: MainProcess
}

/** The exit code of a forced stop (128 + SIGINT's number, as a shell reports Ctrl-C). */
export const FORCED_EXIT_CODE = 130

const nodeProcess: MainProcess = {
  on: (signal, listener) => void process.on(signal, listener),
  off: (signal, listener) => void process.removeListener(signal, listener),
  exit: (code) => process.exit(code),
  stderr: (line) => void process.stderr.write(`${line}\n`),
  now: () => Date.now(),
}

/**
 * Runs `effect` as the process's main fiber (with Effect's pretty logger, like
 * `NodeRuntime.runMain`), stopping on signals as described above. The process exits when the
 * fiber ends after a signal or with a failure; otherwise it ends when nothing is left to do.
 */
export const runMain = <E, A>(effect: Effect.Effect<A, E>, options: RunMainOptions = {}): void => {
  const proc = options.process ?? nodeProcess
  const window = options.duplicateWindowMs ?? 1000
  makeRunMain(({ fiber, teardown }) => {
    const keepAlive = setInterval(() => {}, 2 ** 31 - 1)
    let firstSignalAt: number | undefined
    const onSignal = () => {
      const now = proc.now()
      if (firstSignalAt === undefined) {
        firstSignalAt = now
        proc.stderr("flotilla: stopping (Ctrl-C again to force)")
        fiber.unsafeInterruptAsFork(fiber.id())
        return
      }
      if (now - firstSignalAt < window) return
      proc.stderr(
        "flotilla: forced exit before the clean stop finished (acknowledged writes are on disk; the next start recovers)",
      )
      proc.exit(FORCED_EXIT_CODE)
    }
    proc.on("SIGINT", onSignal)
    proc.on("SIGTERM", onSignal)
    fiber.addObserver((exit) => {
      // After a signal the handlers stay until the process exits: a copy of the Ctrl-C that
      // arrives while the teardown runs must not kill the process before its stop line.
      if (firstSignalAt === undefined) {
        proc.off("SIGINT", onSignal)
        proc.off("SIGTERM", onSignal)
      }
      clearInterval(keepAlive)
      teardown(exit, (code) => {
        if (firstSignalAt !== undefined || code !== 0) proc.exit(code)
      })
    })
  })(effect, { disableErrorReporting: true })
}
