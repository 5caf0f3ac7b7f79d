/**
 * The errors a shard answers with when it cannot run a request at all, as opposed to the
 * failures an entity kind declares for its own operations. They are `Schema.TaggedError`s:
 * they travel inside reply bytes (status `SYSTEM_ERROR`, see `Wire`) and are decoded back
 * into the same classes on the client, in any process.
 *
 * A REQUEST ANSWERED WITH ONE OF THESE CHANGED NOTHING in the shard (no entity, no session),
 * except that a well-formed request for the shard's kind still advances the shard clock
 * (docs/entities.md, "Time"). Retrying it is always safe.
 */
import { Schema } from "effect"

/** The bytes are not a request of the wire format (bad header, bad CBOR, wrong shape). */
export class MalformedRequest extends Schema.TaggedError<MalformedRequest>()("MalformedRequest", {
  reason: Schema.String,
}) {}

/** The request's format version is not one this shard speaks. */
export class UnsupportedVersion extends Schema.TaggedError<UnsupportedVersion>()("UnsupportedVersion", {
  version: Schema.Number,
  supported: Schema.Number,
}) {}

/** The request names another entity kind than the one this shard hosts (a routing bug). */
export class WrongKind extends Schema.TaggedError<WrongKind>()("WrongKind", {
  expected: Schema.String,
  actual: Schema.String,
}) {}

/** The kind has no command or query of that name. */
export class UnknownOperation extends Schema.TaggedError<UnknownOperation>()("UnknownOperation", {
  kind: Schema.String,
  operation: Schema.String,
}) {}

/** The payload does not decode with the operation's payload schema. */
export class InvalidPayload extends Schema.TaggedError<InvalidPayload>()("InvalidPayload", {
  operation: Schema.String,
  reason: Schema.String,
}) {}

/** The entity id is empty or longer than `MAX_ENTITY_ID_BYTES`. */
export class InvalidEntityId extends Schema.TaggedError<InvalidEntityId>()("InvalidEntityId", {
  reason: Schema.String,
}) {}

/** A command was sent where only reads are allowed (`StateMachine.query`). */
export class NotAQuery extends Schema.TaggedError<NotAQuery>()("NotAQuery", {
  requestType: Schema.String,
}) {}

/**
 * The session is unknown to this shard: never opened here, closed, or expired. The outcome of
 * the request that got this answer is UNKNOWN to the client if it was a retry; the client
 * opens a new session and carries on.
 */
export class SessionExpired extends Schema.TaggedError<SessionExpired>()("SessionExpired", {
  session: Schema.Number,
}) {}

/**
 * The sequence number is below the session's acknowledged floor: the client already received
 * that reply, so this is a late duplicate. Nothing was applied.
 */
export class StaleSequence extends Schema.TaggedError<StaleSequence>()("StaleSequence", {
  session: Schema.Number,
  seq: Schema.Number,
  floor: Schema.Number,
}) {}

/** The session already holds the maximum of unacknowledged replies; acknowledge some first. */
export class TooManyPending extends Schema.TaggedError<TooManyPending>()("TooManyPending", {
  session: Schema.Number,
  limit: Schema.Number,
}) {}

/** The scan parameters are out of range (limit, or a continuation outside the range). */
export class InvalidScan extends Schema.TaggedError<InvalidScan>()("InvalidScan", {
  reason: Schema.String,
}) {}

/** The request is larger than `MAX_REQUEST_BYTES`. */
export class RequestTooLarge extends Schema.TaggedError<RequestTooLarge>()("RequestTooLarge", {
  size: Schema.Number,
  limit: Schema.Number,
}) {}

/**
 * The kind's handler threw, or returned a state or reply its schemas reject. Nothing was
 * applied. A bug in the application's entity kind.
 */
export class HandlerDefect extends Schema.TaggedError<HandlerDefect>()("HandlerDefect", {
  operation: Schema.String,
  reason: Schema.String,
}) {}

/** Every error a shard may answer with instead of running the operation. */
export const EntityError = Schema.Union(
  MalformedRequest,
  UnsupportedVersion,
  WrongKind,
  UnknownOperation,
  InvalidPayload,
  InvalidEntityId,
  NotAQuery,
  SessionExpired,
  StaleSequence,
  TooManyPending,
  InvalidScan,
  RequestTooLarge,
  HandlerDefect,
)

/** Every error a shard may answer with instead of running the operation. */
export type EntityError = typeof EntityError.Type
