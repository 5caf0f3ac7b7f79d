/**
 * The supervision policy (src/runtime/Supervisor.ts, docs/decisions/0070): a dead loop ends the
 * process with one line naming it and its cause; interruption is not a death; a failing
 * message is dropped, counted and logged at most once per interval.
 */
import { describe, expect, it } from "@effect/vitest"
import { Data, Effect, Fiber, Layer, Logger, TestClock } from "effect"
import {
  DroppedMessages,
  dropOnFailure,
  LoopExit,
  recordingExit,
  supervise,
} from "../../src/runtime/Supervisor.js"

class Refused extends Data.TaggedError("Refused")<{ readonly message: string }> {}

/** Runs `effect` with a recording LoopExit; the lines it recorded. */
const withExit = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const exit = recordingExit()
    yield* Effect.provide(effect, Layer.succeed(LoopExit, exit))
    return exit.lines
  })

/** Runs `effect`, keeping the messages it logs. */
const withLogs = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const lines: string[] = []
    const logger = Logger.make(({ message }) => {
      lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
    })
    const value = yield* Effect.provide(effect, Logger.replace(Logger.defaultLogger, logger))
    return { value, lines }
  })

describe("supervise", () => {
  it.effect("a loop that dies ends the process with one line naming the loop and the cause", () =>
    Effect.gen(function* () {
      const lines = yield* withExit(
        supervise(
          "engine",
          Effect.sync(() => {
            throw new RangeError("message from 3 is not on node 1\n  (second line)")
          }),
        ),
      )
      expect(lines).toEqual([
        "flotilla: loop engine died: RangeError: message from 3 is not on node 1 (second line)",
      ])
    }),
  )

  it.effect("a loop that fails or returns is dead too; one allowed to return is not", () =>
    Effect.gen(function* () {
      const failed = yield* withExit(
        supervise("kv gateway", Effect.fail(new Refused({ message: "bus closed" }))),
      )
      expect(failed).toEqual(["flotilla: loop kv gateway died: Refused: bus closed"])
      const returned = yield* withExit(supervise("liveness", Effect.void))
      expect(returned).toEqual(["flotilla: loop liveness died: it returned"])
      const allowed = yield* withExit(supervise("engine", Effect.void, { mayEnd: () => true }))
      expect(allowed).toEqual([])
    }),
  )

  it.effect("interruption (the scope closing) is the normal end of a loop, not a death", () =>
    Effect.gen(function* () {
      const exit = recordingExit()
      const fiber = yield* Effect.fork(
        Effect.provide(supervise("engine", Effect.never), Layer.succeed(LoopExit, exit)),
      )
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(fiber)
      expect(exit.lines).toEqual([])
    }),
  )
})

describe("dropOnFailure", () => {
  it.effect("drops a failing or throwing message, counts it and logs at most once a second", () =>
    Effect.gen(function* () {
      const drops = new DroppedMessages("admin endpoint", 1000)
      const handler = (n: number) =>
        n % 2 === 0
          ? Effect.fail(new Refused({ message: `bad ${n}` }))
          : Effect.die(new TypeError(`boom ${n}`))
      const { lines } = yield* withLogs(
        Effect.gen(function* () {
          for (let i = 0; i < 5; i++) yield* dropOnFailure(drops, handler(i))
          yield* TestClock.adjust("1001 millis")
          yield* dropOnFailure(drops, handler(5))
          // A message handled well is not counted.
          yield* dropOnFailure(drops, Effect.succeed("ok"))
        }),
      )
      expect(drops.count).toBe(6)
      expect(lines).toEqual([
        "admin endpoint: dropped a message, handling it failed: Refused: bad 0; 1 dropped in all",
        "admin endpoint: dropped a message, handling it failed: TypeError: boom 5 (and 4 more since the last line); 6 dropped in all",
      ])
    }),
  )

  it.effect("lets an interruption through", () =>
    Effect.gen(function* () {
      const drops = new DroppedMessages("kv gateway")
      const fiber = yield* Effect.fork(dropOnFailure(drops, Effect.never))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(fiber)
      const exit = yield* Fiber.await(fiber)
      expect(exit._tag).toBe("Failure")
      expect(drops.count).toBe(0)
    }),
  )
})
