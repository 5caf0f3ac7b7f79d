/**
 * The errors of Flotilla's clients. They cross boundaries (the Promise client rejects with
 * them, the KV gateway turns them into JSON replies), so they are `Schema.TaggedError`s.
 *
 * WHAT A FAILED WRITE DID is told by the error's tag, not by its message:
 *
 * - `Unavailable`: the request DID NOT TAKE EFFECT. No shard could be reached (no leader, no
 *   shard map, the connection closed), or the shard refused it without applying it.
 * - `Timeout`: the caller's deadline passed after a request had reached a shard without a
 *   definitive answer: a write MAY HAVE TAKEN EFFECT, once (never twice: commands carry a
 *   session stamp and every retry resends the same bytes).
 * - `Conflict`: a compare-and-set found another value. Nothing was written.
 * - `InvalidRequest`: refused before anything was sent (an empty or oversized key or value, a
 *   bad scan limit). Nothing was written.
 */
import { Schema } from "effect"

/** The deadline passed; a write may have taken effect (at most once). */
export class Timeout extends Schema.TaggedError<Timeout>()("Timeout", {
  /** The operation, e.g. `kv.Put`. */
  operation: Schema.String,
  /** The deadline the caller set, in milliseconds. */
  deadlineMs: Schema.Number,
  /** Requests sent (first attempt and retries). */
  attempts: Schema.Number,
  /** The last thing that went wrong. */
  reason: Schema.String,
}) {
  override get message(): string {
    return `${this.operation}: no answer within ${this.deadlineMs} ms after ${this.attempts} attempt(s) (${this.reason}); the outcome is unknown`
  }
}

/** The request did not take effect: no shard could serve it within the deadline, or it was refused. */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", {
  operation: Schema.String,
  attempts: Schema.Number,
  reason: Schema.String,
}) {
  override get message(): string {
    return `${this.operation}: unavailable after ${this.attempts} attempt(s): ${this.reason}; nothing was written`
  }
}

/** A compare-and-set found `current` instead of the expected value; nothing was written. */
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", {
  /** The key, as text when it is printable UTF-8, else `0x` and hex. */
  key: Schema.String,
  /** The value found (null: the key is absent). */
  current: Schema.NullOr(Schema.Uint8ArrayFromSelf),
}) {
  override get message(): string {
    return `cas on ${this.key}: the current value is not the expected one`
  }
}

/** The request was refused before anything was sent. */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  reason: Schema.String,
}) {
  override get message(): string {
    return `invalid request: ${this.reason}`
  }
}

/** A value read as text is not valid UTF-8 (read it as bytes, or base64 through the gateway). */
export class NotUtf8 extends Schema.TaggedError<NotUtf8>()("NotUtf8", {
  key: Schema.String,
}) {
  override get message(): string {
    return `the value of ${this.key} is not valid UTF-8`
  }
}

/** What a routed call can fail with. */
export type CallError = Timeout | Unavailable

/** What a KV operation can fail with (besides `Conflict`, for `cas`). */
export type KvError = Timeout | Unavailable | InvalidRequest
