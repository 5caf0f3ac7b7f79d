/**
 * Helpers shared by the KV tests: build request bytes the way a client does, drive a shard
 * at increasing log indexes, and decode replies.
 */
import { Either } from "effect"
import { Kv } from "../../shards/kv/Kv.js"
import { KvStateMachine } from "../../shards/kv/KvStateMachine.js"
import { EntityClient, EntityId, Wire } from "../../src/runtime/entity/index.js"

type KvOp = "Put" | "Delete" | "Cas" | "Get"

/** The request bytes of a KV operation, with a session stamp for commands. */
export const kvRequest = (
  operation: KvOp,
  key: Uint8Array,
  payload: object,
  stamp?: Wire.SessionStamp,
  options?: { readonly staleRead?: boolean },
): Uint8Array => {
  const raw = EntityClient.encodePayload(Kv, operation, payload as never)
  if (Either.isLeft(raw)) throw new Error(`test bug: ${raw.left._tag}`)
  return EntityClient.encodeCall(
    {
      kind: Kv.name,
      operation,
      type: operation === "Get" ? "query" : "command",
      entityId: key,
      slot: EntityId.slotOf(key),
      payload: raw.right,
      staleRead: options?.staleRead === true,
    },
    stamp,
  )
}

/** Decodes a KV reply to `operation` (a Right success or a Left failure/error). */
export const kvReply = (operation: KvOp, reply: Uint8Array) => EntityClient.decodeReply(Kv, operation, reply)

/** The success value of a reply; throws with the error otherwise (a test failure). */
export const ok = <A, E>(result: Either.Either<A, E>): A => {
  if (Either.isLeft(result)) throw new Error(`expected success, got ${JSON.stringify(result.left)}`)
  return result.right
}

/** A shard plus its log position: `apply` proposes at the next index. */
export class Driver {
  index = 0
  constructor(readonly shard: KvStateMachine = new KvStateMachine()) {}

  apply(bytes: Uint8Array): Uint8Array {
    return this.shard.apply(bytes, ++this.index)
  }

  /** Opens a session; returns its id. */
  openSession(time = 0): number {
    const reply = Wire.decodeReply(
      this.apply(Wire.stampTime(Wire.encodeRequest({ type: "openSession", kind: Kv.name }), time)),
    )
    if (Either.isLeft(reply) || reply.right.status !== Wire.ReplyStatus.Success)
      throw new Error("openSession failed")
    return reply.right.body as number
  }
}

/** The status byte of a reply. */
export const statusOf = (reply: Uint8Array): number => reply[1]!

/** The `_tag` of a system-error reply, or undefined for other replies. */
export const errorTag = (reply: Uint8Array): string | undefined => {
  const envelope = Wire.decodeReply(reply)
  if (Either.isLeft(envelope) || envelope.right.status !== Wire.ReplyStatus.SystemError) return undefined
  const error = Wire.decodeEntityErrorBody(envelope.right.body)
  return Either.isRight(error) ? error.right._tag : "undecodable"
}

/** Hex of a key, for model maps keyed by string. */
export const hex = EntityId.toHex

/** Bytes from a hex string. */
export const unhex = (h: string): Uint8Array =>
  Uint8Array.from(h.match(/../g) ?? [], (b) => Number.parseInt(b, 16))
