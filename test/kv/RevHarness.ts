/**
 * Helpers of the revisioned KV tests: request bytes of `KvRevProtocol` operations (stamped
 * with a leader time, as a proposer would) and their decoded replies.
 */
import { Either } from "effect"
import { KvRevProtocol } from "../../shards/kv/KvRev.js"
import type { KvStateMachine } from "../../shards/kv/KvStateMachine.js"
import { EntityClient, EntityId, Wire } from "../../src/runtime/entity/index.js"

export type RevOp =
  | "Txn"
  | "LeaseGrant"
  | "LeaseKeepAlive"
  | "LeaseRevoke"
  | "LeaseExpire"
  | "Read"
  | "Events"
  | "LeaseTimeToLive"

const QUERIES = new Set<RevOp>(["Read", "Events", "LeaseTimeToLive"])

/** Request bytes of a revisioned operation addressed to `key`, stamped with `time`. */
export const revRequest = (operation: RevOp, key: Uint8Array, payload: object, time = 0): Uint8Array => {
  const raw = EntityClient.encodePayload(KvRevProtocol, operation, payload as never)
  if (Either.isLeft(raw)) throw new Error(`test bug: ${raw.left.message}`)
  const bytes = EntityClient.encodeCall({
    kind: KvRevProtocol.name,
    operation,
    type: QUERIES.has(operation) ? "query" : "command",
    entityId: key,
    slot: EntityId.slotOf(key),
    payload: raw.right,
    staleRead: false,
  })
  return QUERIES.has(operation) ? bytes : Wire.stampTime(bytes, time)
}

/** Decodes the reply of a revisioned operation. */
export const revReply = <K extends RevOp>(operation: K, reply: Uint8Array) =>
  EntityClient.decodeReply(KvRevProtocol, operation, reply)

/** A KV shard driven at increasing log indexes with a controllable leader time. */
export class RevDriver {
  index = 0
  time = 1_000

  constructor(public shard: KvStateMachine) {}

  /** Applies a command through the "log"; returns the decoded reply. */
  command<K extends RevOp>(operation: K, key: Uint8Array, payload: object) {
    return revReply(operation, this.shard.apply(revRequest(operation, key, payload, this.time), ++this.index))
  }

  /** Answers a query from the current state. */
  query<K extends RevOp>(operation: K, key: Uint8Array, payload: object) {
    return revReply(operation, this.shard.query(revRequest(operation, key, payload)))
  }
}

/** UTF-8 bytes. */
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)
