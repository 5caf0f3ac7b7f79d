/**
 * An in-process `EntitySender`: one `ShardStateMachine` per kind, driven directly, with the
 * same session discipline a networked sender follows (open a session per shard, number the
 * commands, acknowledge the replies received, stamp the proposer time). For tests of entity
 * kinds and for applications' own unit tests:
 *
 *   Effect.runPromise(program.pipe(Effect.provide(MemorySender.layer([Counter]))))
 *
 * Calls are applied one at a time in the order they reach the sender. There is no
 * replication, no log and no failure injection: those belong to the runtime's simulator.
 */
import { Clock, Effect, Either, Layer } from "effect"
import { EntitySender, EntityUnavailable, encodeCall } from "./EntityClient.js"
import type { AnyKind } from "./EntityKind.js"
import { type ShardOptions, ShardStateMachine } from "./ShardStateMachine.js"
import * as Wire from "./Wire.js"

/** One hosted kind: its shard, its session in that shard, and the log position. */
interface Hosted {
  readonly shard: ShardStateMachine
  session: number
  seq: number
}

/** The shards of an in-process sender, by kind name. */
export interface MemoryShards {
  readonly shards: ReadonlyMap<string, ShardStateMachine>
}

const sessionExpired = (reply: Uint8Array): boolean => {
  const envelope = Wire.decodeReply(reply)
  if (Either.isLeft(envelope) || envelope.right.status !== Wire.ReplyStatus.SystemError) return false
  const error = Wire.decodeEntityErrorBody(envelope.right.body)
  return Either.isRight(error) && error.right._tag === "SessionExpired"
}

/**
 * The sender over fresh shards of `kinds`, and the shards themselves (to inspect in tests).
 * Proposer time comes from Effect's `Clock`, so `TestClock` drives session expiry.
 */
export const make = (
  kinds: ReadonlyArray<AnyKind>,
  options: ShardOptions = {},
): { readonly sender: EntitySender["Type"]; readonly shards: MemoryShards } => {
  const hosted = new Map<string, Hosted>()
  for (const kind of kinds)
    hosted.set(kind.name, { shard: ShardStateMachine.make(kind, options), session: 0, seq: 0 })
  let index = 0

  const propose = (host: Hosted, request: Uint8Array, now: number) =>
    host.shard.apply(Wire.stampTime(request, now), ++index)

  const openSession = (host: Hosted, kind: string, now: number): boolean => {
    const reply = Wire.decodeReply(propose(host, Wire.encodeRequest({ type: "openSession", kind }), now))
    if (Either.isLeft(reply) || reply.right.status !== Wire.ReplyStatus.Success) return false
    host.session = reply.right.body as number
    host.seq = 0
    return true
  }

  const sender: EntitySender["Type"] = {
    send: (call) =>
      Effect.gen(function* () {
        const host = hosted.get(call.kind)
        const unavailable = (reason: string) =>
          Effect.fail(new EntityUnavailable({ kind: call.kind, operation: call.operation, reason }))
        if (host === undefined) return yield* unavailable(`no shard hosts kind ${call.kind}`)
        const now = yield* Clock.currentTimeMillis
        if (call.type === "query") return host.shard.query(encodeCall(call))
        for (let attempt = 0; attempt < 2; attempt++) {
          if (host.session === 0 && !openSession(host, call.kind, now))
            return yield* unavailable("cannot open a session")
          const seq = ++host.seq
          // Calls complete one at a time here, so every earlier reply has been received.
          const reply = propose(host, encodeCall(call, { session: host.session, seq, ackedBelow: seq }), now)
          if (!sessionExpired(reply)) return reply
          host.session = 0
        }
        return yield* unavailable("the session expired twice in a row")
      }),
  }
  return { sender, shards: { shards: new Map([...hosted].map(([name, h]) => [name, h.shard])) } }
}

/** A layer providing the in-process sender over fresh shards of `kinds`. */
export const layer = (kinds: ReadonlyArray<AnyKind>, options: ShardOptions = {}): Layer.Layer<EntitySender> =>
  Layer.sync(EntitySender, () => make(kinds, options).sender)
