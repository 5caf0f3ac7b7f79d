/**
 * The one retry policy of Flotilla's clients (docs/decisions/0055): the router's calls and
 * shard map refreshes, its requests to the metadata endpoint, the node's own requests to the
 * metadata group (MetaCall.ts) and the test clients all wait between attempts by `schedule` and
 * run their attempts through `run`.
 *
 * - BACKOFF: the wait before retry `n` (n = 0 for the first retry) is a uniform draw in
 *   `[c / 2, c]` with `c = min(maxMs, baseMs * 2^n)` ("equal jitter"), rounded up to whole
 *   milliseconds: clients that failed together spread out over a factor of two, and the waits
 *   still grow until they reach `maxMs`.
 *   The draw comes from the `Random` service (seeded by tests and the simulators).
 * - DEADLINE: NO WAIT ENDS PAST THE DEADLINE (the last one is cut short), and NO ATTEMPT BUT THE
 *   FIRST STARTS AT OR AFTER IT: a run that reaches its deadline gives up there, with the error
 *   its caller makes of the last retryable failure. Attempts bound their own requests by the
 *   time left (`remaining`).
 */
import {
  Clock,
  Duration,
  Effect,
  Schedule,
  ScheduleDecision,
  ScheduleInterval,
  ScheduleIntervals,
} from "effect"

/** The backoff of a retry loop, in milliseconds. */
export interface Backoff {
  /** The ceiling of the first retry's wait. */
  readonly baseMs: number
  /** The largest ceiling. */
  readonly maxMs: number
}

/** The clients' backoff: 10 ms doubling up to 500 ms. */
export const clientBackoff: Backoff = { baseMs: 10, maxMs: 500 }

/** Keeps going until `deadlineAt` (clock milliseconds), and never waits past it. */
const untilDeadline = (deadlineAt: number): Schedule.Schedule<number> =>
  Schedule.makeWithState(undefined, (now) =>
    Effect.succeed([
      undefined,
      deadlineAt - now,
      now < deadlineAt
        ? ScheduleDecision.continueWith(ScheduleInterval.after(deadlineAt))
        : ScheduleDecision.done,
    ] as const),
  )

/**
 * The waits between the attempts of a loop that started its first attempt before `deadlineAt`
 * (clock milliseconds; `Infinity`: no deadline). See the module comment.
 */
export const schedule = (backoff: Backoff, deadlineAt: number): Schedule.Schedule<unknown> => {
  const waits = Schedule.exponential(Duration.millis(backoff.baseMs)).pipe(
    // The ceiling: base * 2^n, at most max (a union waits for the earlier of the two).
    Schedule.union(Schedule.spaced(Duration.millis(backoff.maxMs))),
    Schedule.jitteredWith({ min: 0.5, max: 1 }),
    // Whole milliseconds, as clocks count them (and the simulators' virtual time).
    Schedule.modifyDelay((_, wait) => Duration.millis(Math.ceil(Duration.toMillis(wait)))),
  )
  if (!Number.isFinite(deadlineAt)) return waits
  // Both must go on; the earlier wake-up wins, so no wait ends past the deadline.
  return Schedule.intersectWith(waits, untilDeadline(deadlineAt), ScheduleIntervals.union)
}

/** The time left before `deadlineAt`, in milliseconds (negative when it has passed). */
export const remaining = (deadlineAt: number): Effect.Effect<number> =>
  Effect.map(Clock.currentTimeMillis, (now) => deadlineAt - now)

/** Options of `run`. */
export interface RunOptions<E, X extends E, G> {
  readonly backoff: Backoff
  /** The clock time (ms) from which no attempt starts; `Infinity`: retry forever. */
  readonly deadlineAt: number
  /** The failures worth another attempt; any other failure ends the run at once, as it is. */
  readonly retryable: (error: E) => error is X
  /** The failure of a run that reached its deadline: from the last retryable failure. */
  readonly onExpiry: (last: X, attempts: number) => G
  /** Called before each wait, with the failure and the number of attempts made so far. */
  readonly onWait?: (error: X, attempts: number) => Effect.Effect<void>
}

/** A run's marker for "the deadline came during a wait" (never escapes `run`). */
const DEADLINE_PASSED: unique symbol = Symbol("DeadlinePassed")

/**
 * Runs `attempt` until it succeeds or fails with an error `retryable` rejects, waiting between
 * attempts by `schedule(backoff, deadlineAt)`; at the deadline it fails with `onExpiry` of the
 * last retryable failure. The first attempt always runs, even past the deadline (an attempt
 * checks the time left itself when it must).
 */
export const run = <A, E, R, X extends E, G>(
  attempt: Effect.Effect<A, E, R>,
  options: RunOptions<E, X, G>,
): Effect.Effect<A, Exclude<E, X> | G, R> =>
  Effect.suspend(() => {
    let attempts = 0
    let last: X | undefined
    /** The last wait ended at the deadline (decided by the schedule, whatever the clock says after it). */
    let waitedToDeadline = false
    const once = Effect.suspend(() => {
      attempts++
      return Effect.tapError(attempt, (e) =>
        Effect.sync(() => {
          if (options.retryable(e)) last = e
        }),
      )
    })
    /**
     * The loop after a first attempt that failed with `first` (retryable): the schedule sees
     * that failure first, then each later attempt's.
     */
    const retrying = (first: E) => {
      let replay = true
      const guarded = Effect.suspend((): Effect.Effect<A, E | typeof DEADLINE_PASSED, R> => {
        if (replay) {
          replay = false
          return Effect.fail(first)
        }
        return Effect.flatMap(
          Clock.currentTimeMillis,
          (now): Effect.Effect<A, E | typeof DEADLINE_PASSED, R> =>
            waitedToDeadline || now >= options.deadlineAt ? Effect.fail(DEADLINE_PASSED) : once,
        )
      })
      const waits = schedule(options.backoff, options.deadlineAt).pipe(
        Schedule.whileInput((e: E | typeof DEADLINE_PASSED) => e !== DEADLINE_PASSED && options.retryable(e)),
        Schedule.passthrough,
        Schedule.onDecision((e, decision) => {
          if (ScheduleDecision.isDone(decision)) return Effect.void
          waitedToDeadline = ScheduleIntervals.start(decision.intervals) >= options.deadlineAt
          return options.onWait === undefined ? Effect.void : options.onWait(e as X, attempts)
        }),
      )
      return Effect.retry(guarded, waits).pipe(
        Effect.catchAll((e): Effect.Effect<never, Exclude<E, X> | G> => {
          if (e === DEADLINE_PASSED) return Effect.fail(options.onExpiry(last as X, attempts))
          if (options.retryable(e)) return Effect.fail(options.onExpiry(e, attempts))
          return Effect.fail(e as Exclude<E, X>)
        }),
      )
    }
    // The first attempt runs alone: the schedule is built only when a retry is wanted (on the
    // hot path every call's first attempt succeeds).
    return Effect.catchAll(once, (e) =>
      options.retryable(e) ? retrying(e) : Effect.fail(e as Exclude<E, X>),
    )
  })
