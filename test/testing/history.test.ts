/**
 * The history recorder (`src/testing/History.ts`) around the Counter's typed client, over the
 * in-process `MemorySender` and under `TestClock`: what each way a call ends becomes in the
 * history, the times it notes, and the verdict's report (witness, seed, replay line).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, TestClock } from "effect"
import { Counter, CounterOverflow } from "../../examples/counter/Counter.js"
import { InvalidRequest, Timeout, Unavailable } from "../../src/client/ClientErrors.js"
import { EntitySender, EntityUnavailable } from "../../src/runtime/entity/EntityClient.js"
import { InvalidEntityId } from "../../src/runtime/entity/EntityError.js"
import * as MemorySender from "../../src/runtime/entity/MemorySender.js"
import * as History from "../../src/testing/History.js"
import {
  type CounterInput,
  type CounterOutput,
  counterModel,
  resetForgettingModel,
} from "./support/CounterModel.js"

const FILE = "test/testing/history.test.ts"

/** The Counter client's calls, recorded as client `client`'s operations. */
const counterCalls = (history: History.History<CounterInput, CounterOutput>, client: number, id: string) => ({
  add: (by: number) => history.record(client, { id, op: "add", by }, Counter.client(id).Add({ by })),
  reset: () => history.record(client, { id, op: "reset" }, Counter.client(id).Reset()),
  get: () => history.record(client, { id, op: "get" }, Counter.client(id).Get()),
})

const memory = MemorySender.layer([Counter])

describe("History", () => {
  it.effect("records answers, the application's failures as answers, and returns the call's own result", () =>
    Effect.gen(function* () {
      const history = yield* History.make<CounterInput, CounterOutput>()
      const c = counterCalls(history, 1, "a")
      expect(yield* c.add(2)).toBe(2)
      expect(yield* c.add(Number.MAX_SAFE_INTEGER).pipe(Effect.flip)).toEqual(
        new CounterOverflow({ value: 2, by: Number.MAX_SAFE_INTEGER }),
      )
      expect(yield* c.get()).toBe(2)
      expect(yield* c.reset()).toBe(2)
      const ops = yield* history.operations
      expect(ops.map((o) => o.output)).toEqual([
        2,
        new CounterOverflow({ value: 2, by: Number.MAX_SAFE_INTEGER }),
        2,
        2,
      ])
      expect(ops.every((o) => o.client === 1 && o.completedAt !== Number.POSITIVE_INFINITY)).toBe(true)
      const verdict = yield* history.check(counterModel)
      expect(verdict.ok, verdict.report).toBe(true)
      expect(verdict.report).toMatch(/^linearizable: 4 operations, 0 with an unknown outcome, 0 refused/)
    }).pipe(Effect.provide(memory)),
  )

  it.effect("leaves refused calls out and records unknown outcomes at infinity", () =>
    Effect.gen(function* () {
      const history = yield* History.make<CounterInput, CounterOutput>()
      // An empty entity id is refused before anything is sent.
      const refused = yield* history
        .record(1, { id: "", op: "add", by: 1 }, Counter.client("").Add({ by: 1 }))
        .pipe(Effect.flip)
      expect(refused).toBeInstanceOf(InvalidEntityId)
      // A sender that gives up: the command may have been applied.
      const unavailable = yield* history
        .record(2, { id: "b", op: "add", by: 5 }, Counter.client("b").Add({ by: 5 }))
        .pipe(
          Effect.provideService(EntitySender, {
            send: (call) =>
              Effect.fail(new EntityUnavailable({ kind: call.kind, operation: call.operation, reason: "x" })),
          }),
          Effect.flip,
        )
      expect(unavailable).toBeInstanceOf(EntityUnavailable)
      // Interrupted while waiting.
      const fiber = yield* history
        .record(
          3,
          { id: "b", op: "add", by: 1 },
          Effect.zipRight(Effect.sleep("1 second"), Counter.client("b").Add({ by: 1 })),
        )
        .pipe(Effect.fork)
      yield* TestClock.adjust("10 millis")
      const pending = yield* history.operations
      expect(pending.find((o) => o.client === 3)?.unknownBecause).toBe("pending")
      expect(Exit.isInterrupted(yield* Fiber.interrupt(fiber))).toBe(true)
      // The unknown Add of 5 may explain this read of 5.
      expect(yield* history.record(4, { id: "b", op: "get" }, Effect.succeed(5))).toBe(5)

      const ops = yield* history.operations
      expect(ops.map((o) => [o.client, o.output, o.completedAt, o.unknownBecause])).toEqual([
        [2, undefined, Number.POSITIVE_INFINITY, "EntityUnavailable"],
        [3, undefined, Number.POSITIVE_INFINITY, "interrupted"],
        [4, 5, ops[2]!.completedAt, undefined],
      ])
      expect((yield* history.refusals).map((r) => [r.client, r.reason])).toEqual([[1, "InvalidEntityId"]])
      const verdict = yield* history.check(counterModel)
      expect(verdict.ok, verdict.report).toBe(true)
      expect(verdict.report).toContain(
        "3 operations, 2 with an unknown outcome (EntityUnavailable 1, interrupted 1), 1 refused and left out",
      )
    }).pipe(Effect.provide(memory)),
  )

  it("classifies the clients' errors as decision 0052 says", () => {
    expect(
      History.failureClass(new Timeout({ operation: "kv.Put", deadlineMs: 1, attempts: 1, reason: "" })),
    ).toBe("unknown")
    expect(History.failureClass(new Unavailable({ operation: "kv.Put", attempts: 1, reason: "" }))).toBe(
      "refused",
    )
    expect(History.failureClass(new InvalidRequest({ reason: "" }))).toBe("refused")
    expect(History.failureClass(new CounterOverflow({ value: 1, by: 1 }))).toBe("answer")
    expect(History.failureClass(new Error("boom"))).toBe("unknown")
    expect(History.failureClass("a string")).toBe("unknown")
    const decide = History.classifier<number, Timeout | CounterOverflow, string>({
      success: (n) => `=${n}`,
      answer: (e) => (e._tag === "CounterOverflow" ? "overflow" : undefined),
    })
    expect(decide(Exit.succeed(3))).toEqual({ _tag: "Answered", output: "=3" })
    expect(decide(Exit.fail(new CounterOverflow({ value: 1, by: 1 })))).toEqual({
      _tag: "Answered",
      output: "overflow",
    })
    expect(
      decide(Exit.fail(new Timeout({ operation: "x", deadlineMs: 1, attempts: 1, reason: "" }))),
    ).toEqual({
      _tag: "Unknown",
      reason: "Timeout",
    })
    expect(decide(Exit.die("bug"))).toEqual({ _tag: "Unknown", reason: "defect" })
  })

  it.effect("takes its times from Effect's Clock, strictly increasing in the order noted", () =>
    Effect.gen(function* () {
      const history = yield* History.make<CounterInput, CounterOutput>()
      yield* TestClock.adjust("250 millis")
      const slow = yield* history
        .record(
          1,
          { id: "t", op: "add", by: 1 },
          Effect.zipRight(Effect.sleep("100 millis"), Counter.client("t").Add({ by: 1 })),
        )
        .pipe(Effect.fork)
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(slow)
      // Virtual time stands still here: these two are noted at the same instant, in order.
      yield* counterCalls(history, 2, "t").get()
      yield* counterCalls(history, 3, "t").get()
      const [add, get1, get2] = yield* history.operations
      expect([add!.invokedAt, add!.completedAt]).toEqual([250, 350])
      expect(get1!.invokedAt).toBeGreaterThan(add!.completedAt)
      expect(get1!.completedAt).toBeGreaterThan(get1!.invokedAt)
      expect(get2!.invokedAt).toBeGreaterThan(get1!.completedAt)
      expect(get2!.completedAt - 350).toBeLessThan(0.01)
    }).pipe(Effect.provide(memory)),
  )

  it.effect("a wrong model gets a short witness, printed with the seed and a one-line replay", () =>
    Effect.gen(function* () {
      const history = yield* History.make<CounterInput, CounterOutput>()
      // Four clients on two counters, concurrently: adds, reads and a reset each.
      yield* Effect.forEach(
        [1, 2, 3, 4],
        (client) => {
          const c = counterCalls(history, client, client % 2 === 0 ? "even" : "odd")
          return Effect.gen(function* () {
            for (let i = 0; i < 5; i++) {
              yield* c.add(client)
              yield* Effect.sleep(`${client} millis`)
              yield* c.get()
            }
            if (client > 2) yield* c.reset()
            yield* c.add(1)
            yield* c.get()
          })
        },
        { concurrency: "unbounded", discard: true },
      ).pipe(
        Effect.fork,
        Effect.tap(() => TestClock.adjust("1 second")),
        Effect.flatMap(Fiber.join),
      )
      expect((yield* history.operations).length).toBe(4 * 13 - 2)
      const good = yield* history.check(counterModel, { seed: 7, file: FILE })
      expect(good.ok, good.report).toBe(true)
      expect(good.report).toContain(
        `seed 7; replay: FLOTILLA_SEED=7 npx vitest run --config test/vitest.config.ts ${FILE}`,
      )

      const bad = yield* history.check(resetForgettingModel, { seed: 7, file: FILE })
      expect(bad.ok).toBe(false)
      expect(bad.witness?.minimal).toBe(true)
      expect(bad.witness!.ops.length).toBeLessThanOrEqual(4)
      const lines = bad.report.split("\n")
      expect(lines[0]).toMatch(/^NOT linearizable \(no linearization exists\): 50 operations/)
      expect(lines[1]).toMatch(/^witness \(order\): \d operations, 1-minimal/)
      expect(lines.slice(2, -1)).toHaveLength(bad.witness!.ops.length)
      expect(lines.at(-1)).toBe(
        `seed 7; replay: FLOTILLA_SEED=7 npx vitest run --config test/vitest.config.ts ${FILE}`,
      )
    }).pipe(Effect.provide(memory)),
  )

  it("the replay command: the caller's own, or one from the seed", () => {
    expect(History.replayCommand({})).toBeUndefined()
    expect(History.replayCommand({ seed: 3 })).toBe(
      "FLOTILLA_SEED=3 npx vitest run --config test/vitest.config.ts <this test file>",
    )
    expect(History.replayCommand({ seed: 3, replay: "npm run nemesis -- --seed 3" })).toBe(
      "npm run nemesis -- --seed 3",
    )
  })
})
