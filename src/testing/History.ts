/**
 * A recorder of client histories for the linearizability checker (`Linearizability`): wrap each
 * call of a typed client (an entity client, the KV client) in `record`, then `check` the
 * history against a model the application supplies.
 *
 *   const history = yield* History.make<CounterInput, CounterOutput>()
 *   const n = yield* history.record(client, { id, op: "add", by: 1 }, Counter.client(id).Add({ by: 1 }))
 *   const verdict = yield* history.check(counterModel, { seed })
 *   expect(verdict.ok, verdict.report).toBe(true)
 *
 * `record` runs the call unchanged (same result, same error, same interruption) and notes its
 * invocation and completion. Times come from Effect's `Clock`: virtual time in the simulations,
 * the wall clock in real runs. They are milliseconds since the recorder was made, with
 * nanosecond resolution, and STRICTLY INCREASING in the order they were taken: everything
 * runs on one thread, so when a completion is noted before an invocation, that call really
 * ended before the other began, even when the clock reads the same (virtual time stands still
 * within a round).
 *
 * HOW A CALL'S END IS RECORDED (a `Classify` decides; `classify` is the default, from the
 * clients' error taxonomy, docs/decisions/0052 and 0127):
 *
 * - `Answered`: the operation ran and answered: its success value, or a failure the
 *   application declares (`CounterOverflow`, the KV store's `Conflict`): that failure is the
 *   operation's output, and the model must accept it where it fits.
 * - `Refused`: the request was certainly never applied (`Unavailable`, `InvalidRequest`, a
 *   shard's `EntityError` other than the session ones). It is left out of the history.
 * - `Unknown`: it may or may not have been applied (`Timeout`, `EntityUnavailable`, an
 *   interruption, a defect, anything untagged): it completes at infinity with no output.
 */
import { Cause, Clock, Effect, Exit, Option } from "effect"
import type { InvalidRequest, NotUtf8, Timeout, Unavailable } from "../client/ClientErrors.js"
import type { EntityUnavailable, ReplyUndecodable } from "../runtime/entity/EntityClient.js"
import type { EntityError } from "../runtime/entity/EntityError.js"
import {
  type CheckResult,
  checkLinearizable,
  describeHistory,
  type Model,
  type Operation,
  type Witness,
  type WitnessOptions,
} from "./Linearizability.js"

/** How a call ended, for the history. */
export type Outcome<O> =
  | { readonly _tag: "Answered"; readonly output: O }
  | { readonly _tag: "Refused"; readonly reason: string }
  | { readonly _tag: "Unknown"; readonly reason: string }

/** Decides a call's outcome from its exit. */
export type Classify<A, E, O> = (exit: Exit.Exit<A, E>) => Outcome<O>

/**
 * The clients' own failures, as opposed to the application's: a failure of any other tag is an
 * answer. (`Conflict` is not here: a compare-and-set that found another value answered.)
 */
export type ClientFailure =
  | Timeout
  | Unavailable
  | InvalidRequest
  | NotUtf8
  | EntityUnavailable
  | ReplyUndecodable
  | EntityError

/** What a failure says about whether the operation ran. */
export type FailureClass = "answer" | "refused" | "unknown"

/** Tags whose request was certainly not applied (ClientErrors.ts, EntityError.ts). */
const REFUSED: ReadonlySet<string> = new Set([
  "Unavailable",
  "InvalidRequest",
  "MalformedRequest",
  "UnsupportedVersion",
  "WrongKind",
  "UnknownOperation",
  "InvalidPayload",
  "InvalidEntityId",
  "NotAQuery",
  "TooManyPending",
  "InvalidScan",
  "RequestTooLarge",
  "HandlerDefect",
])

/**
 * Tags that leave the outcome open. `EntityUnavailable` covers both the router's `Timeout` (may
 * have been applied) and its `Unavailable` (not applied) and only its text tells them apart, so
 * it counts as unknown, which is always sound. `SessionExpired` and `StaleSequence` reach a
 * caller only after an unanswered attempt. `NotUtf8` and `ReplyUndecodable`: the operation ran
 * but its answer could not be read.
 */
const UNKNOWN: ReadonlySet<string> = new Set([
  "Timeout",
  "EntityUnavailable",
  "SessionExpired",
  "StaleSequence",
  "NotUtf8",
  "ReplyUndecodable",
])

/** The class of a typed failure `error` (see the module comment); untagged values are unknown. */
export const failureClass = (error: unknown): FailureClass => {
  const tag =
    typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
      ? error._tag
      : undefined
  if (tag === undefined || UNKNOWN.has(tag)) return "unknown"
  return REFUSED.has(tag) ? "refused" : "answer"
}

const tagOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : String(error)

/**
 * A classifier that maps a success with `success` and an answering failure with `answer`
 * (undefined: the model has no output for it, so it counts as unknown); refusals and unknown
 * outcomes follow `failureClass`. An interruption or a defect is unknown.
 */
export const classifier =
  <A, E, O>(map: {
    readonly success: (a: A) => O
    readonly answer?: (e: E) => O | undefined
  }): Classify<A, E, O> =>
  (exit) => {
    if (Exit.isSuccess(exit)) return { _tag: "Answered", output: map.success(exit.value) }
    const failure = Cause.failureOption(exit.cause)
    if (Option.isNone(failure))
      return { _tag: "Unknown", reason: Cause.isInterruptedOnly(exit.cause) ? "interrupted" : "defect" }
    const error = failure.value
    const kind = failureClass(error)
    if (kind === "refused") return { _tag: "Refused", reason: tagOf(error) }
    if (kind === "answer") {
      const output = map.answer?.(error)
      if (output !== undefined) return { _tag: "Answered", output }
    }
    return { _tag: "Unknown", reason: tagOf(error) }
  }

/**
 * The default classifier: the success value, or the application's failure, is the output. A
 * call that succeeds with `undefined` (an `Effect<void>`) records no answer to check (the
 * checker reads an undefined output as "any"); give it an output with `classifier`.
 */
export const classify = <A, E>(): Classify<A, E, A | E> =>
  classifier<A, E, A | E>({ success: (a) => a, answer: (e) => e })

/** An operation as recorded, with why its outcome is unknown. */
export interface Recorded<I, O> extends Operation<I, O> {
  /** Why the outcome is unknown (`Timeout`, `interrupted`, `pending`, ...). */
  readonly unknownBecause?: string
}

/** A call that was refused (not applied), kept out of the history. */
export interface Refusal<I> {
  readonly client: number
  readonly input: I
  readonly invokedAt: number
  readonly completedAt: number
  readonly reason: string
}

/** Options of `check`. */
export interface CheckOptions {
  /** The run's seed: printed in the report with the replay command. */
  readonly seed?: number
  /** The test file, for the replay command (default `<this test file>`). */
  readonly file?: string
  /** A replay command of the caller's own (default: `FLOTILLA_SEED=<seed> npx vitest run ...`). */
  readonly replay?: string
  /** Search steps of the check (default 2,000,000). */
  readonly budget?: number
  /** Limits of the witness search; `false`: no witness. */
  readonly witness?: WitnessOptions | false
}

/** A checked history. */
export interface Verdict<I, O> {
  /** As `CheckResult.ok`: true, false, or "unknown" when the search ran out of budget. */
  readonly ok: boolean | "unknown"
  readonly result: CheckResult<I, O>
  /** A minimal failing sub-history when the history is not linearizable. */
  readonly witness: Witness<I, O> | undefined
  /** Printable: the verdict, the witness, the counts, the seed and the replay command. */
  readonly report: string
}

/** The recorder (see the module comment). */
export interface History<I, O> {
  /**
   * Runs `effect` as client `client`'s operation `input` and records it with the default
   * classifier: its success value, or its application failure, is the output.
   */
  record<A extends O, E extends O | ClientFailure, R>(
    client: number,
    input: I,
    effect: Effect.Effect<A, E, R>,
  ): Effect.Effect<A, E, R>
  /** Runs `effect` and records it as `classify` says. */
  record<A, E, R>(
    client: number,
    input: I,
    effect: Effect.Effect<A, E, R>,
    classify: Classify<A, E, O>,
  ): Effect.Effect<A, E, R>
  /** The history so far; calls still running count as unknown. Refused calls are left out. */
  readonly operations: Effect.Effect<ReadonlyArray<Recorded<I, O>>>
  /** The calls refused so far. */
  readonly refusals: Effect.Effect<ReadonlyArray<Refusal<I>>>
  /** Checks the history so far against `model`. */
  check<S>(model: Model<S, I, O>, options?: CheckOptions): Effect.Effect<Verdict<I, O>>
}

/** The replay command for `options` (undefined without a seed or a command). */
export const replayCommand = (options: CheckOptions): string | undefined =>
  options.replay ??
  (options.seed === undefined
    ? undefined
    : `FLOTILLA_SEED=${options.seed} npx vitest run --config test/vitest.config.ts ${options.file ?? "<this test file>"}`)

/** Checks `ops` against `model` and writes the report (what `History.check` does). */
export const verdict = <S, I, O>(
  model: Model<S, I, O>,
  ops: ReadonlyArray<Recorded<I, O>>,
  options: CheckOptions = {},
  refused = 0,
): Verdict<I, O> => {
  const result = checkLinearizable(model, ops.slice(), options.budget, {
    witness: options.witness === false ? false : (options.witness ?? true),
  })
  const witness = result.ok === false ? result.witness : undefined
  const unknown = new Map<string, number>()
  for (const op of ops)
    if (op.completedAt === Number.POSITIVE_INFINITY) {
      const why = op.unknownBecause ?? "unknown"
      unknown.set(why, (unknown.get(why) ?? 0) + 1)
    }
  const counts = `${ops.length} operations, ${[...unknown.values()].reduce((a, b) => a + b, 0)} with an unknown outcome${
    unknown.size === 0 ? "" : ` (${[...unknown].map(([why, n]) => `${why} ${n}`).join(", ")})`
  }, ${refused} refused and left out`
  const lines: string[] = []
  if (result.ok === true) lines.push(`linearizable: ${counts}`)
  else if (result.ok === "unknown") lines.push(`linearizability unknown (${result.reason}): ${counts}`)
  else {
    lines.push(`NOT linearizable (${result.reason}): ${counts}; ${result.part.length} in the failing part`)
    if (witness !== undefined)
      lines.push(
        `witness (${witness.kind}): ${witness.ops.length} operation${witness.ops.length === 1 ? "" : "s"}, ${
          witness.kind === "answer"
            ? "an answer nothing in its part explains"
            : witness.minimal
              ? "1-minimal (drop any one and the rest is linearizable or leaves an answer unexplained)"
              : "not shown 1-minimal (a limit was reached)"
        }, ${witness.checks} searches; ms since the recorder started, ∞: outcome unknown`,
        describeHistory(witness.ops),
      )
    else lines.push("the failing part:", describeHistory(result.part))
  }
  const replay = replayCommand(options)
  if (options.seed !== undefined || replay !== undefined)
    lines.push(`seed ${options.seed ?? "?"}; replay: ${replay}`)
  return { ok: result.ok, result, witness, report: lines.join("\n") }
}

interface Entry<I, O> {
  readonly client: number
  readonly input: I
  readonly invokedAt: number
  outcome: Outcome<O> | undefined
  completedAt: number
}

/** A new, empty recorder; its clock starts now. */
export const make = <I, O>(): Effect.Effect<History<I, O>> =>
  Effect.gen(function* () {
    const start = yield* Clock.currentTimeNanos
    let last = -1n
    // Strictly increasing milliseconds since `start` (see the module comment).
    const now = Effect.map(Clock.currentTimeNanos, (t) => {
      const since = t - start
      last = since > last ? since : last + 1n
      return Number(last) / 1e6
    })
    const entries: Entry<I, O>[] = []

    const record = <A, E, R>(
      client: number,
      input: I,
      effect: Effect.Effect<A, E, R>,
      decide: Classify<A, E, O> = classify<A, E>() as unknown as Classify<A, E, O>,
    ): Effect.Effect<A, E, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          const entry: Entry<I, O> = {
            client,
            input,
            invokedAt: yield* now,
            outcome: undefined,
            completedAt: Number.POSITIVE_INFINITY,
          }
          entries.push(entry)
          const exit = yield* Effect.exit(restore(effect))
          entry.completedAt = yield* now
          entry.outcome = decide(exit)
          return yield* exit
        }),
      )

    const operations = Effect.sync(() => {
      const ops: Recorded<I, O>[] = []
      for (const e of entries) {
        const o = e.outcome
        if (o?._tag === "Refused") continue
        if (o?._tag === "Answered")
          ops.push({
            client: e.client,
            input: e.input,
            output: o.output,
            invokedAt: e.invokedAt,
            completedAt: e.completedAt,
          })
        else
          ops.push({
            client: e.client,
            input: e.input,
            output: undefined,
            invokedAt: e.invokedAt,
            completedAt: Number.POSITIVE_INFINITY,
            unknownBecause: o === undefined ? "pending" : o.reason,
          })
      }
      return ops
    })

    const refusals = Effect.sync(() =>
      entries.flatMap((e): Refusal<I>[] =>
        e.outcome?._tag === "Refused"
          ? [
              {
                client: e.client,
                input: e.input,
                invokedAt: e.invokedAt,
                completedAt: e.completedAt,
                reason: e.outcome.reason,
              },
            ]
          : [],
      ),
    )

    return {
      record,
      operations,
      refusals,
      check: <S>(model: Model<S, I, O>, options: CheckOptions = {}) =>
        Effect.gen(function* () {
          const ops = yield* operations
          const refused = (yield* refusals).length
          return verdict(model, ops, options, refused)
        }),
    } as History<I, O>
  })
