/** The one retry policy (src/client/Retry.ts): its waits, and the loop that runs attempts under it. */
import { Clock, Data, Duration, Effect, Exit, Random, ScheduleDecision, ScheduleIntervals } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as Retry from "../../src/client/Retry.js"

/** The waits the schedule asks for, stepping it from `start` (its deadline may stop it first). */
const waits = (backoff: Retry.Backoff, start: number, deadlineAt: number, steps: number, seed: number) =>
  Effect.runSync(
    Effect.gen(function* () {
      const schedule = Retry.schedule(backoff, deadlineAt)
      let state = schedule.initial
      let now = start
      const out: Array<{ readonly at: number; readonly wait: number }> = []
      for (let i = 0; i < steps; i++) {
        const [next, , decision] = yield* schedule.step(now, undefined, state)
        if (ScheduleDecision.isDone(decision)) return { out, done: true, now }
        const wake = ScheduleIntervals.start(decision.intervals)
        out.push({ at: now, wait: wake - now })
        state = next
        now = wake
      }
      return { out, done: false, now }
    }).pipe(Effect.withRandom(Random.make(seed))),
  )

const backoffs = fc
  .record({ baseMs: fc.integer({ min: 1, max: 200 }), extra: fc.integer({ min: 0, max: 5_000 }) })
  .map(({ baseMs, extra }): Retry.Backoff => ({ baseMs, maxMs: baseMs + extra }))

const ceiling = (b: Retry.Backoff, retry: number) => Math.min(b.maxMs, b.baseMs * 2 ** retry)

describe("Retry.schedule", () => {
  it("waits between half the ceiling and the ceiling, which doubles up to the maximum, and never past the deadline", () => {
    fc.assert(
      fc.property(
        backoffs,
        fc.integer({ min: 0, max: 1e9 }),
        fc.oneof(fc.integer({ min: 0, max: 30_000 }), fc.constant(Number.POSITIVE_INFINITY)),
        fc.integer({ min: 1, max: 80 }),
        fc.integer(),
        (backoff, start, budget, steps, seed) => {
          const deadlineAt = start + budget
          const { out, done, now } = waits(backoff, start, deadlineAt, steps, seed)
          out.forEach(({ at, wait }, n) => {
            const left = deadlineAt - at
            expect(left).toBeGreaterThan(0)
            expect(wait).toBeLessThanOrEqual(Math.min(ceiling(backoff, n), left) + 1e-6)
            expect(wait).toBeGreaterThanOrEqual(Math.min(ceiling(backoff, n) / 2, left) - 1e-6)
          })
          expect(now).toBeLessThanOrEqual(deadlineAt)
          // It stops only at the deadline, and it does stop there.
          if (done) expect(now).toBe(deadlineAt)
          else expect(out.length).toBe(steps)
        },
      ),
    )
  })

  it("grows: each wait is at least the one before while the ceiling doubles and the deadline is far", () => {
    fc.assert(
      fc.property(backoffs, fc.integer({ min: 2, max: 40 }), fc.integer(), (backoff, steps, seed) => {
        const { out } = waits(backoff, 0, Number.POSITIVE_INFINITY, steps, seed)
        for (let n = 1; n < out.length; n++)
          if (ceiling(backoff, n) === 2 * ceiling(backoff, n - 1))
            expect(out[n]!.wait).toBeGreaterThanOrEqual(out[n - 1]!.wait)
        // Past the maximum the waits stay in [max / 2, max].
        for (const { wait } of out) expect(wait).toBeLessThanOrEqual(backoff.maxMs)
      }),
    )
  })

  it("keeps going without a deadline past where the exponential overflows", () => {
    const { out, done } = waits({ baseMs: 10, maxMs: 500 }, 0, Number.POSITIVE_INFINITY, 1_100, 7)
    expect(done).toBe(false)
    for (const { wait } of out.slice(-5)) {
      expect(wait).toBeGreaterThanOrEqual(250)
      expect(wait).toBeLessThanOrEqual(500)
    }
  })
})

/** A clock whose sleeps pass at once (`oversleep` times as long): time only moves when something waits. */
const instantClock = (start: number, oversleep = 1) => {
  let now = start
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => now,
    currentTimeMillis: Effect.sync(() => now),
    unsafeCurrentTimeNanos: () => BigInt(Math.round(now * 1e6)),
    currentTimeNanos: Effect.sync(() => BigInt(Math.round(now * 1e6))),
    sleep: (d) =>
      Effect.sync(() => {
        now += Duration.toMillis(d) * oversleep
      }),
  }
  return clock
}

class Again extends Data.TaggedError("Again")<{ readonly n: number }> {}
class Fatal extends Data.TaggedError("Fatal")<{ readonly n: number }> {}
class GaveUp extends Data.TaggedError("GaveUp")<{ readonly last: number; readonly attempts: number }> {}

const isAgain = (e: Again | Fatal): e is Again => e._tag === "Again"

/**
 * Runs `Retry.run` over an attempt that fails with `Again` until `succeedAt` (then succeeds) or
 * with `Fatal` at `fatalAt`, recording the clock time of every attempt and the waits.
 */
const runAttempts = (options: {
  readonly start: number
  readonly budget: number
  readonly succeedAt?: number
  readonly fatalAt?: number
  readonly oversleep?: number
}) => {
  const starts: number[] = []
  let waitsSeen = 0
  const attempt = Effect.gen(function* () {
    const n = starts.length + 1
    starts.push(yield* Clock.currentTimeMillis)
    if (n === options.succeedAt) return n
    if (n === options.fatalAt) return yield* new Fatal({ n })
    return yield* new Again({ n })
  })
  const deadlineAt = options.start + options.budget
  const exit = Effect.runSyncExit(
    Retry.run(attempt, {
      backoff: Retry.clientBackoff,
      deadlineAt,
      retryable: isAgain,
      onExpiry: (last, attempts) => new GaveUp({ last: last.n, attempts }),
      onWait: (e, attempts) =>
        Effect.sync(() => {
          expect(e.n).toBe(attempts)
          waitsSeen++
        }),
    }).pipe(
      Effect.withClock(instantClock(options.start, options.oversleep)),
      Effect.withRandom(Random.make(options.start)),
    ),
  )
  return { exit, starts, waits: waitsSeen, deadlineAt }
}

describe("Retry.run", () => {
  it("starts no attempt but the first at or past the deadline, and gives up with the last failure there", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 0, max: 20_000 }), (start, budget) => {
        const { exit, starts, waits, deadlineAt } = runAttempts({ start, budget })
        expect(starts[0]).toBe(start)
        for (const t of starts.slice(1)) expect(t).toBeLessThan(deadlineAt)
        for (let i = 1; i < starts.length; i++) expect(starts[i]!).toBeGreaterThanOrEqual(starts[i - 1]!)
        expect(exit).toEqual(Exit.fail(new GaveUp({ last: starts.length, attempts: starts.length })))
        // A wait before every attempt but the first, and the last one cut at the deadline.
        expect(waits).toBe(budget === 0 ? 0 : starts.length)
      }),
    )
  })

  it("gives up when a wait overran the deadline (a slow scheduler)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 5_000 }), (start, budget) => {
        const { exit, starts, deadlineAt } = runAttempts({ start, budget, oversleep: 3 })
        for (const t of starts.slice(1)) expect(t).toBeLessThan(deadlineAt)
        expect(Exit.isFailure(exit)).toBe(true)
      }),
    )
  })

  it("returns the first success, and ends at once on a failure that is not retryable", () => {
    const ok = runAttempts({ start: 1_000, budget: 60_000, succeedAt: 6 })
    expect(ok.exit).toEqual(Exit.succeed(6))
    expect(ok.waits).toBe(5)
    const fatal = runAttempts({ start: 1_000, budget: 60_000, fatalAt: 3 })
    expect(fatal.exit).toEqual(Exit.fail(new Fatal({ n: 3 })))
    expect(fatal.starts.length).toBe(3)
  })

  it("retries without end when there is no deadline", () => {
    const { exit, starts } = runAttempts({ start: 0, budget: Number.POSITIVE_INFINITY, succeedAt: 200 })
    expect(exit).toEqual(Exit.succeed(200))
    expect(starts.at(-1)).toBeGreaterThan(150 * 250)
  })
})
