/**
 * Requests to the metadata leader over the bus, for the node's own use (registration,
 * heartbeats, shard map fetches, tools): one attempt (`call`), or attempts with backoff until
 * the metadata group answers (`callUntilAnswered`). "No responders" on the meta subject means
 * that no node leads the metadata group at the moment, which a new election soon fixes; runtime
 * errors (`NotLeader`, `ProposalFailed`, ...) mean that nothing was done, or for
 * `OutcomeUnknown` that it may have been: every request of the meta protocol is idempotent
 * (docs/placement.md), so all of them are retried.
 */
import { Data, Duration, Effect, Either } from "effect"
import { decodeReply, encodeRequest, type MetaReply, type MetaRequest } from "../meta/MetaProtocol.js"
import type { BusService, RequestError } from "../transport/Bus.js"

/** The answer bytes were not a `MetaReply` (a version mismatch between node and leader). */
export class UndecodableReply extends Data.TaggedError("UndecodableReply")<{
  readonly subject: string
  readonly message: string
}> {}

/** What one request can fail with before any answer. */
export type CallError = RequestError | UndecodableReply

const RUNTIME_ERRORS = new Set([
  "NotLeader",
  "Overloaded",
  "GroupNotFound",
  "ProposalFailed",
  "OutcomeUnknown",
  "GroupStopped",
  "NodeStopping",
  "WrongShard",
  "BadRequest",
])

/** True for answers that mean "nothing was done, ask again" (runtime errors of the node). */
export const isRetryable = (reply: MetaReply): boolean =>
  RUNTIME_ERRORS.has(reply._tag) && reply._tag !== "BadRequest"

/** One request to the meta subject. */
export const call = (
  bus: BusService,
  subject: string,
  request: MetaRequest,
  timeout: Duration.DurationInput = "2 seconds",
): Effect.Effect<MetaReply, CallError> =>
  Effect.flatMap(bus.request(subject, encodeRequest(request), { timeout }), (bytes) => {
    const reply = decodeReply(bytes)
    return Either.isRight(reply)
      ? Effect.succeed(reply.right)
      : Effect.fail(new UndecodableReply({ subject, message: reply.left.message }))
  })

/** Options of `callUntilAnswered`. */
export interface RetryOptions {
  /** Per attempt (default 2 s). */
  readonly timeout?: Duration.DurationInput
  /** First wait between attempts (default 50 ms), doubled up to `maxBackoff`. */
  readonly backoff?: Duration.DurationInput
  /** Longest wait between attempts (default 2 s). */
  readonly maxBackoff?: Duration.DurationInput
  /** Give up after this long (default: never). */
  readonly deadline?: Duration.DurationInput
  /** Called before each wait, with the attempt number and what went wrong. */
  readonly onRetry?: (attempt: number, why: string) => Effect.Effect<void>
}

/** The metadata group did not answer before the deadline. */
export class NoMetadataLeader extends Data.TaggedError("NoMetadataLeader")<{
  readonly subject: string
  readonly attempts: number
  readonly last: string
  readonly message: string
}> {}

/**
 * Asks until the metadata group answers something other than a runtime error: transport
 * failures (no responders, timeouts) and runtime errors are retried with backoff. Fails only
 * with `NoMetadataLeader` once `deadline` passes, or `UndecodableReply`.
 */
export const callUntilAnswered = (
  bus: BusService,
  subject: string,
  request: MetaRequest,
  options: RetryOptions = {},
): Effect.Effect<MetaReply, NoMetadataLeader | UndecodableReply> =>
  Effect.gen(function* () {
    const first = Duration.toMillis(Duration.decode(options.backoff ?? "50 millis"))
    const max = Duration.toMillis(Duration.decode(options.maxBackoff ?? "2 seconds"))
    const started = yield* Effect.clockWith((c) => c.currentTimeMillis)
    const deadline =
      options.deadline === undefined
        ? Infinity
        : started + Duration.toMillis(Duration.decode(options.deadline))
    let wait = first
    for (let attempt = 1; ; attempt++) {
      const r = yield* Effect.either(call(bus, subject, request, options.timeout))
      let why: string
      if (Either.isRight(r)) {
        if (!isRetryable(r.right)) return r.right
        why = r.right._tag
      } else if (r.left._tag === "UndecodableReply") {
        return yield* Effect.fail(r.left)
      } else {
        why = r.left._tag
      }
      const now = yield* Effect.clockWith((c) => c.currentTimeMillis)
      if (now + wait > deadline) {
        return yield* new NoMetadataLeader({
          subject,
          attempts: attempt,
          last: why,
          message: `no answer from the metadata group on ${subject} after ${attempt} attempts (last: ${why})`,
        })
      }
      if (options.onRetry) yield* options.onRetry(attempt, why)
      yield* Effect.sleep(wait)
      wait = Math.min(max, wait * 2)
    }
  })
