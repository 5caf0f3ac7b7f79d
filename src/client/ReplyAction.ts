/**
 * What a shard's reply tells the router to do next: hand it to the caller, retry (refreshing
 * the shard map when it may be stale), or replace an expired session (the table "Retries" of
 * docs/protocol.md). Only the status byte is read for ordinary replies; runtime and session
 * errors are decoded (they are small).
 */
import { Either } from "effect"
import * as Wire from "../runtime/entity/Wire.js"

/** The router's next step after a reply. */
export type ReplyAction =
  /** A shard's answer (success, declared failure, `EntityError`): return it. */
  | { readonly _tag: "Done" }
  /** Nothing ran: retry; `stale` says whether the shard map may be out of date. */
  | {
      readonly _tag: "Retry"
      readonly reason: string
      readonly stale: "no" | "maybe" | "forced"
      readonly error: string
    }
  /** Retry, and a command may have been applied already (its waiter was failed). */
  | { readonly _tag: "RetryUncertain"; readonly reason: string; readonly error: string }
  /** The shard does not know the command's session. */
  | { readonly _tag: "SessionExpired" }

const DONE: ReplyAction = { _tag: "Done" }

/** What to do after `reply` (see the module comment). */
export const actionOf = (reply: Uint8Array): ReplyAction => {
  if (reply.length < 2 || reply[0] !== Wire.VERSION) return DONE
  const status = reply[1]
  if (status !== Wire.ReplyStatus.SystemError && status !== Wire.ReplyStatus.RuntimeError) return DONE
  const env = Wire.decodeReply(reply)
  if (Either.isLeft(env)) return DONE
  if (status === Wire.ReplyStatus.SystemError) {
    const err = Wire.decodeEntityErrorBody(env.right.body)
    if (Either.isLeft(err)) return DONE
    if (err.right._tag === "SessionExpired") return { _tag: "SessionExpired" }
    if (err.right._tag === "TooManyPending")
      return {
        _tag: "Retry",
        reason: "the session holds too many unacknowledged replies",
        stale: "no",
        error: "TooManyPending",
      }
    return DONE
  }
  const err = Wire.decodeRuntimeErrorBody(env.right.body)
  if (Either.isLeft(err)) return DONE
  const e = err.right
  switch (e._tag) {
    case "NotLeader":
    case "GroupNotFound":
      return { _tag: "Retry", reason: e.message, stale: "maybe", error: e._tag }
    case "WrongShard":
      return { _tag: "Retry", reason: e.message, stale: "forced", error: e._tag }
    case "Overloaded":
    case "ProposalFailed":
      return { _tag: "Retry", reason: e.message, stale: "no", error: e._tag }
    case "NodeStopping":
    case "GroupStopped":
    case "OutcomeUnknown":
      return { _tag: "RetryUncertain", reason: e.message, error: e._tag }
    case "BadRequest":
      return DONE
  }
}
