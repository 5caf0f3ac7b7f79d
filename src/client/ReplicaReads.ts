/**
 * Stale reads from any replica (docs/decisions/0054): a read that accepts a stale answer first
 * asks the group's replicas — voters and learners as the shard map lists them, in random order
 * — through their nodes' admin endpoints (`{"op":"read","stale":true}`, src/node/NodeAdmin.ts),
 * so followers answer too, even while the group has no leader. The call path tries this once
 * per call, then takes the leader's path.
 */
import { Effect, Either, Option, Random, Schema } from "effect"
import type { GroupRecord } from "../meta/ClusterState.js"
import { type GroupId, nodeOfReplica } from "../raft/Ids.js"
import type { BusService } from "../transport/Bus.js"
import type { ClusterSubjects } from "../transport/Subjects.js"
import * as Retry from "./Retry.js"

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder()

/** The admin endpoint's answer to `read`. */
const decodeAdminRead = Schema.decodeUnknownEither(
  Schema.parseJson(
    Schema.Union(
      Schema.Struct({ ok: Schema.Literal(true), reply: Schema.String }),
      Schema.Struct({ ok: Schema.Literal(false) }),
    ),
  ),
)

/** Where the reads go. */
export interface AdminEndpoints {
  readonly bus: BusService
  readonly subjects: ClusterSubjects
  /** How long one request waits for its answer (cut to the time left before the deadline). */
  readonly attemptTimeoutMs: number
}

/**
 * The reply of a replica of `group` (`record`: the shard map's record of it) to the query
 * `bytes`, trying the replicas in random order until one answers before `deadlineAt` (clock
 * milliseconds); none when the map does not list the group or no replica answers.
 */
export const readFromReplica = (
  endpoints: AdminEndpoints,
  group: GroupId,
  record: GroupRecord | undefined,
  bytes: Uint8Array,
  deadlineAt: number,
): Effect.Effect<Option.Option<Uint8Array>> =>
  Effect.gen(function* () {
    const nodes = (record?.replicas ?? []).filter((r) => r.role !== "joining").map((r) => nodeOfReplica(r.id))
    const request = textEncoder.encode(
      JSON.stringify({ op: "read", group, query: Buffer.from(bytes).toString("base64"), stale: true }),
    )
    while (nodes.length > 0) {
      const remaining = yield* Retry.remaining(deadlineAt)
      if (remaining <= 0) break
      const node = nodes.splice(Math.floor((yield* Random.next) * nodes.length), 1)[0]!
      const answer = yield* Effect.either(
        endpoints.bus.request(endpoints.subjects.admin(node), request, {
          timeout: Math.max(1, Math.min(endpoints.attemptTimeoutMs, remaining)),
        }),
      )
      if (Either.isLeft(answer)) continue
      const reply = decodeAdminRead(textDecoder.decode(answer.right))
      if (Either.isLeft(reply) || reply.right.ok !== true) continue
      return Option.some(new Uint8Array(Buffer.from(reply.right.reply, "base64")))
    }
    return Option.none<Uint8Array>()
  })
