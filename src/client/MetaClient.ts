/**
 * The router's side of the metadata endpoint `<prefix>.<c>.{cli,op}.meta` (docs/protocol.md,
 * src/meta/MetaProtocol.ts): JSON requests tagged by `_tag`, JSON answers. Only the metadata
 * group's leader listens, so "no responders" means "no metadata leader now"; an answer that is
 * a runtime error (`NotLeader`, `ProposalFailed`, ...) means nothing was done. `ask` sends one
 * request; `request` asks again under the retry policy (Retry.ts) until a definitive answer
 * comes or the deadline passes. The shard map's fetches go through `ask` (ClientShardMap.ts).
 */
import { Clock, Data, Effect, Either } from "effect"
import {
  decodeReply,
  encodeRequest,
  type MetaReply,
  type MetaRequest,
  metaRequestClass,
} from "../meta/MetaProtocol.js"
import type { ShardMap } from "../meta/MetaQuery.js"
import type { BusService } from "../transport/Bus.js"
import type { ClusterSubjects } from "../transport/Subjects.js"
import { type CallError, Timeout, Unavailable } from "./ClientErrors.js"
import { isRetryable } from "./MetaCall.js"
import * as Retry from "./Retry.js"

/** Where the router asks. */
export interface MetaEndpoint {
  readonly bus: BusService
  /** The cluster's subjects: each request goes to the meta subject of its class. */
  readonly subjects: ClusterSubjects
  /** How long one request waits for its answer (cut to the time left before the deadline). */
  readonly attemptTimeoutMs: number
}

/** Why a request brought no answer: the reason an `ask` reports when the deadline had passed. */
export const DEADLINE_PASSED = "the deadline passed"

/** No definitive answer came; asking again may bring one. */
export class NoAnswer extends Data.TaggedError("NoAnswer")<{
  readonly reason: string
  /** The request may have reached the leader (it timed out). */
  readonly uncertain: boolean
}> {}

/** Asking again cannot help: the bus is closed, or the answer is not a metadata answer. */
export class BadAnswer extends Data.TaggedError("BadAnswer")<{ readonly reason: string }> {}

/** The meta subject `request` goes to: the subject of its class (MetaProtocol.ts `metaRequestClass`). */
export const metaSubjectOf = (
  subjects: ClusterSubjects,
  request: { readonly _tag: MetaRequest["_tag"] },
): string => subjects.metaOf(metaRequestClass(request))

/** The bytes of a request. */
export const requestBytes = (request: MetaRequest): Uint8Array => encodeRequest(request)

/**
 * The request bytes of `GetShardMap` for every keyspace, "anything newer than `knownVersion`?",
 * or of its page `page` of a map too large for one answer (src/meta/PagedShardMap.ts).
 */
export const getShardMapRequest = (knownVersion: number, page = 0): Uint8Array =>
  encodeRequest({ _tag: "GetShardMap", keyspace: "", knownVersion, ...(page > 0 ? { page } : {}) })

/** What an answer means to a client. */
export type Answer =
  /** A definitive answer (a query's, a command's success or its refusal). */
  | { readonly _tag: "Answer"; readonly reply: MetaReply }
  /** Nothing was done; ask again (a runtime error of the node that got the request). */
  | { readonly _tag: "Retry"; readonly reason: string }

/** Classifies answer bytes; `Left(reason)` when they are not a metadata answer at all. */
export const classify = (bytes: Uint8Array): Either.Either<Answer, string> => {
  const reply = decodeReply(bytes)
  if (Either.isLeft(reply)) return Either.left(`undecodable metadata answer: ${reply.left.message}`)
  const r = reply.right
  if (isRetryable(r)) return Either.right({ _tag: "Retry", reason: `the metadata group answered ${r._tag}` })
  return Either.right({ _tag: "Answer", reply: r })
}

/** What a shard map request brings back. */
export type ShardMapAnswer =
  | { readonly _tag: "ShardMap"; readonly map: ShardMap }
  | { readonly _tag: "NotModified"; readonly version: number }

/** The shard map in an answer; `Left(reason)` for any other answer. */
export const shardMapOf = (reply: MetaReply): Either.Either<ShardMapAnswer, string> => {
  switch (reply._tag) {
    case "ShardMap":
      return Either.right({ _tag: "ShardMap", map: reply })
    case "NotModified":
      return Either.right({ _tag: "NotModified", version: reply.version })
    default:
      return Either.left(`the metadata group answered ${reply._tag} to GetShardMap`)
  }
}

/** One request (nothing is sent once the deadline, in clock milliseconds, has passed). */
export const ask = (
  endpoint: MetaEndpoint,
  request: Uint8Array,
  deadlineAt: number,
  subject: string = endpoint.subjects.meta,
): Effect.Effect<MetaReply, NoAnswer | BadAnswer> =>
  Effect.gen(function* () {
    const remaining = yield* Retry.remaining(deadlineAt)
    if (remaining <= 0) return yield* new NoAnswer({ reason: DEADLINE_PASSED, uncertain: false })
    const sent = yield* Effect.either(
      endpoint.bus.request(subject, request, {
        timeout: Math.max(1, Math.min(endpoint.attemptTimeoutMs, remaining)),
      }),
    )
    if (Either.isLeft(sent)) {
      const e = sent.left
      if (e._tag === "NoResponders")
        return yield* new NoAnswer({ reason: "no metadata leader answers", uncertain: false })
      if (e._tag === "RequestTimeout") return yield* new NoAnswer({ reason: e.message, uncertain: true })
      return yield* new BadAnswer({ reason: e.message })
    }
    const answer = classify(sent.right)
    if (Either.isLeft(answer)) return yield* new BadAnswer({ reason: answer.left })
    if (answer.right._tag === "Retry")
      return yield* new NoAnswer({ reason: answer.right.reason, uncertain: false })
    return answer.right.reply
  })

const isNoAnswer = (e: NoAnswer | BadAnswer): e is NoAnswer => e._tag === "NoAnswer"

/**
 * A request asked until a definitive answer comes: `Unavailable` when none came before
 * `deadlineMs` (or the answer was not a metadata answer), `Timeout` when a request that went
 * unanswered may have been applied.
 */
export const request = (
  endpoint: MetaEndpoint,
  backoff: Retry.Backoff,
  request: MetaRequest,
  deadlineMs: number,
): Effect.Effect<MetaReply, CallError> =>
  Effect.gen(function* () {
    const deadlineAt = (yield* Clock.currentTimeMillis) + deadlineMs
    const bytes = requestBytes(request)
    const subject = metaSubjectOf(endpoint.subjects, request)
    const operation = `meta.${request._tag}`
    let attempts = 0
    let uncertain = false
    const once = Effect.suspend(() => {
      attempts++
      return Effect.tapError(ask(endpoint, bytes, deadlineAt, subject), (e) =>
        Effect.sync(() => {
          if (e._tag === "NoAnswer") uncertain ||= e.uncertain
        }),
      )
    })
    return yield* Retry.run(once, {
      backoff,
      deadlineAt,
      retryable: isNoAnswer,
      onExpiry: (last): CallError =>
        uncertain
          ? new Timeout({ operation, deadlineMs, attempts, reason: last.reason })
          : new Unavailable({ operation, attempts, reason: last.reason }),
    }).pipe(
      Effect.catchTag("BadAnswer", (e) =>
        Effect.fail(new Unavailable({ operation, attempts, reason: e.reason })),
      ),
    )
  })
