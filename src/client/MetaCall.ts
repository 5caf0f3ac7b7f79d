/**
 * Requests to the metadata leader over the bus, for the node's own use (registration,
 * heartbeats, shard map fetches, tools): one attempt (`call`), or attempts under the retry
 * policy (Retry.ts) until the metadata group answers (`callUntilAnswered`). "No responders" on the meta subject means
 * that no node leads the metadata group at the moment, which a new election soon fixes; runtime
 * errors (`NotLeader`, `ProposalFailed`, ...) mean that nothing was done, or for
 * `OutcomeUnknown` that it may have been: every request of the meta protocol is idempotent
 * (docs/placement.md), so all of them are retried.
 */
import { Clock, Data, Duration, Effect, Either } from "effect"
import { decodeReply, encodeRequest, type MetaReply, type MetaRequest } from "../meta/MetaProtocol.js"
import type { BusService, RequestError } from "../transport/Bus.js"
import * as Retry from "./Retry.js"

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
  /** Per attempt (default 2 s; cut to the time left before the deadline). */
  readonly timeout?: Duration.DurationInput
  /** Backoff between attempts (default 50 ms doubling up to 2 s, jittered; Retry.ts). */
  readonly backoff?: Partial<Retry.Backoff>
  /** Give up after this long (default: never). */
  readonly deadline?: Duration.DurationInput
  /** Called before each wait, with the number of attempts made and what went wrong. */
  readonly onRetry?: (attempt: number, why: string) => Effect.Effect<void>
}

/** The node's backoff towards the metadata group: 50 ms doubling up to 2 s. */
export const metaBackoff: Retry.Backoff = { baseMs: 50, maxMs: 2_000 }

/** The metadata group did not answer before the deadline. */
export class NoMetadataLeader extends Data.TaggedError("NoMetadataLeader")<{
  readonly subject: string
  readonly attempts: number
  readonly last: string
  readonly message: string
}> {}

/** An attempt brought no answer worth returning (`why`: the runtime error or the bus error). */
class NotAnswered extends Data.TaggedError("NotAnswered")<{ readonly why: string }> {}

const isNotAnswered = (e: NotAnswered | UndecodableReply): e is NotAnswered => e._tag === "NotAnswered"

const millis = (d: Duration.DurationInput) => Duration.toMillis(Duration.decode(d))

/**
 * Asks until the metadata group answers something other than a runtime error: transport
 * failures (no responders, timeouts) and runtime errors are retried under the retry policy
 * (Retry.ts). Fails only with `NoMetadataLeader` once `deadline` passes, or `UndecodableReply`.
 */
export const callUntilAnswered = (
  bus: BusService,
  subject: string,
  request: MetaRequest,
  options: RetryOptions = {},
): Effect.Effect<MetaReply, NoMetadataLeader | UndecodableReply> =>
  Effect.gen(function* () {
    const timeoutMs = millis(options.timeout ?? "2 seconds")
    const deadlineAt =
      options.deadline === undefined
        ? Number.POSITIVE_INFINITY
        : (yield* Clock.currentTimeMillis) + millis(options.deadline)
    const attempt = Effect.gen(function* () {
      const timeout = Math.max(1, Math.min(timeoutMs, yield* Retry.remaining(deadlineAt)))
      const r = yield* Effect.either(call(bus, subject, request, timeout))
      if (Either.isRight(r)) {
        if (!isRetryable(r.right)) return r.right
        return yield* new NotAnswered({ why: r.right._tag })
      }
      if (r.left._tag === "UndecodableReply") return yield* r.left
      return yield* new NotAnswered({ why: r.left._tag })
    })
    return yield* Retry.run(attempt, {
      backoff: { ...metaBackoff, ...options.backoff },
      deadlineAt,
      retryable: isNotAnswered,
      onWait: (e, attempts) =>
        options.onRetry === undefined ? Effect.void : options.onRetry(attempts, e.why),
      onExpiry: (e, attempts) =>
        new NoMetadataLeader({
          subject,
          attempts,
          last: e.why,
          message: `no answer from the metadata group on ${subject} after ${attempts} attempts (last: ${e.why})`,
        }),
    })
  })
