/**
 * Supervision: the one policy for every long-lived loop of a node (docs/decisions/0070,
 * docs/runtime.md "Supervision").
 *
 * - A failure while handling ONE message stays with that message: `dropOnFailure` drops it,
 *   counts it in the loop's `DroppedMessages` and logs at most one line per second per loop.
 * - A failure while handling ONE group stays with that group: the replica stops with its reason
 *   (Engine.ts), shown in `GroupStatus.stopped`, `flotilla status` and the admin summary.
 * - A loop that ends for any other reason (a defect, a failure, or returning while it should
 *   run forever) ends the PROCESS: `supervise` writes exactly one line
 *   `flotilla: loop <name> died: <cause>` and exits with code 1, so that the process supervisor
 *   (systemd, Kubernetes, a shell loop) starts it again. A process with a dead loop never lives
 *   on. Interruption (the scope closing) is the normal end of every loop and is not a death.
 *
 * How the process ends is a service (`LoopExit`): production exits; tests and the simulation
 * provide one that records the line instead.
 */
import { Cause, Clock, Context, Effect, Exit, Option } from "effect"

/** What to do when a loop died: `line` is `flotilla: loop <name> died: <cause>`. */
export interface LoopExitService {
  readonly loopDied: (name: string, line: string) => Effect.Effect<void>
}

/** How the process reacts to a dead loop (default when not provided: `processExit`). */
export class LoopExit extends Context.Tag("flotilla/LoopExit")<LoopExit, LoopExitService>() {}

/** The exit code of a process ended by a dead loop. */
export const LOOP_DIED_EXIT_CODE = 1

/** Writes the line to stderr and ends the process at once (the durable state is on disk). */
export const processExit: LoopExitService = {
  loopDied: (_name, line) =>
    Effect.sync(() => {
      process.stderr.write(`${line}\n`)
      process.exit(LOOP_DIED_EXIT_CODE)
    }),
}

/** A `LoopExit` that records the lines instead of exiting (tests). */
export const recordingExit = (): LoopExitService & { readonly lines: string[] } => {
  const lines: string[] = []
  return { lines, loopDied: (_name, line) => Effect.sync(() => void lines.push(line)) }
}

/** The cause of a death in one line: the first error's name and message, or what ended it. */
export const describeCause = (cause: Cause.Cause<unknown>): string => {
  const failure = Option.orElse(Cause.failureOption(cause), () => Cause.dieOption(cause))
  if (Option.isNone(failure)) return Cause.isInterrupted(cause) ? "interrupted" : "unknown cause"
  return oneLine(failure.value)
}

const oneLine = (e: unknown): string => {
  let text: string
  if (e instanceof Error) text = `${e.name}: ${e.message}`
  else if (typeof e === "object" && e !== null && "_tag" in e) {
    const msg = "message" in e && typeof e.message === "string" ? `: ${e.message}` : ""
    text = `${String(e._tag)}${msg}`
  } else text = String(e)
  return text.replace(/\s*\n\s*/g, " ")
}

/** Ends the process (through `LoopExit`, or exits) because loop `name` died of `cause`. */
export const loopDied = (name: string, cause: string): Effect.Effect<void> =>
  Effect.gen(function* () {
    const line = `flotilla: loop ${name} died: ${cause}`
    const exit = yield* Effect.serviceOption(LoopExit)
    yield* Option.getOrElse(exit, () => processExit).loopDied(name, line)
  })

/** Options of `supervise`. */
export interface SuperviseOptions {
  /** True when the loop may end by returning (e.g. the node is stopping): not a death. */
  readonly mayEnd?: () => boolean
}

/**
 * Runs `loop` (meant to run until interrupted) under the policy: if it fails, dies, or returns
 * while `mayEnd` does not allow it, the process ends through `LoopExit` (see the module
 * comment). The full cause is logged first; the one line follows.
 */
export const supervise = <A, E, R>(
  name: string,
  loop: Effect.Effect<A, E, R>,
  options: SuperviseOptions = {},
): Effect.Effect<void, never, R> =>
  Effect.gen(function* () {
    const exit = yield* Effect.exit(loop)
    if (Exit.isSuccess(exit)) {
      if (options.mayEnd?.() === true) return
      return yield* loopDied(name, "it returned")
    }
    if (Cause.isInterruptedOnly(exit.cause)) return yield* Effect.interrupt
    yield* Effect.logError(`loop ${name} died`, exit.cause)
    yield* loopDied(name, describeCause(exit.cause))
  })

/** The messages a loop dropped because handling them failed, and its rate-limited log. */
export class DroppedMessages {
  /** Messages dropped since the loop started. */
  count = 0
  private nextLogAt = 0
  private unlogged = 0

  /** `loop` names the loop in the log lines; at most one line every `logEveryMs`. */
  constructor(
    readonly loop: string,
    private readonly logEveryMs = 1000,
  ) {}

  /** Counts one dropped message and logs it unless a line was written within the interval. */
  record(cause: Cause.Cause<unknown>): Effect.Effect<void> {
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      this.count++
      if (now < this.nextLogAt) {
        this.unlogged++
        return Effect.void
      }
      this.nextLogAt = now + this.logEveryMs
      const more = this.unlogged > 0 ? ` (and ${this.unlogged} more since the last line)` : ""
      this.unlogged = 0
      return Effect.logWarning(
        `${this.loop}: dropped a message, handling it failed: ${describeCause(cause)}${more}; ${this.count} dropped in all`,
      )
    })
  }
}

/**
 * Handles one message: a failure or defect of `effect` drops the message (counted, logged
 * through `drops`) and never reaches the loop. Interruption passes through.
 */
export const dropOnFailure = <A, E, R>(
  drops: DroppedMessages,
  effect: Effect.Effect<A, E, R>,
): Effect.Effect<void, never, R> =>
  Effect.catchAllCause(Effect.asVoid(effect), (cause) =>
    Cause.isInterruptedOnly(cause) ? Effect.interrupt : drops.record(cause),
  )
