/**
 * The typed client of an entity, derived from its kind's protocol:
 *
 *   const n = yield* Counter.client("user-42").Add({ by: 1 })   // Effect<number, ...>
 *
 * Delivery is inverted through the `EntitySender` service: this module encodes the payload,
 * hands an `EntityCall` to the sender and decodes the reply bytes it gets back; the sender
 * (src/client over NATS, or `MemorySender` in tests) routes the call to the shard that owns
 * the entity's slot, adds the session stamp to commands, and retries.
 *
 * THE SENDER'S CONTRACT: a command call is encoded ONCE with one session stamp
 * (`Wire.SessionStamp`), and every retry resends those same bytes, so that the shard applies
 * it at most once; a reply is returned only from the shard (never synthesized).
 *
 * `encodePayload` and `decodeReply` are also exported on their own, typed by operation name,
 * for clients that do not use Effect.
 */
import { Context, Data, Effect, Either, Schema } from "effect"
import * as Cbor from "./Cbor.js"
import { type EntityError, InvalidEntityId, InvalidPayload, UnknownOperation } from "./EntityError.js"
import * as EntityId from "./EntityId.js"
import type {
  AnyProtocol,
  Failure,
  OperationName,
  Payload,
  PayloadFields,
  SpecOf,
  Success,
} from "./EntityProtocol.js"
import * as Wire from "./Wire.js"

/** One call of one operation on one entity, ready for routing. */
export interface EntityCall {
  readonly kind: string
  readonly operation: string
  readonly type: "command" | "query"
  readonly entityId: Uint8Array
  /** `EntityId.slotOf(entityId)`, for routing. */
  readonly slot: number
  /** The payload, one encoded CBOR item. */
  readonly payload: Cbor.Raw
  /** Queries only: the caller accepts a stale read from any replica. */
  readonly staleRead: boolean
}

/**
 * The call could not be completed: no shard answered within the sender's retry budget. For a
 * command the outcome is UNKNOWN (it may have been applied once; never twice).
 */
export class EntityUnavailable extends Schema.TaggedError<EntityUnavailable>()("EntityUnavailable", {
  kind: Schema.String,
  operation: Schema.String,
  reason: Schema.String,
}) {}

/** The reply bytes could not be decoded (a version mismatch between client and shard). */
export class ReplyUndecodable extends Data.TaggedError("ReplyUndecodable")<{
  readonly operation: string
  readonly reason: string
}> {}

/** Delivers entity calls to the shards that own them (see the module's contract). */
export class EntitySender extends Context.Tag("flotilla/EntitySender")<
  EntitySender,
  { readonly send: (call: EntityCall) => Effect.Effect<Uint8Array, EntityUnavailable> }
>() {}

/** Options of a typed client. */
export interface ClientOptions {
  /** Queries accept stale reads from any replica (default false: linearizable). */
  readonly staleRead?: boolean
}

/** Every error a typed call can fail with besides the operation's own failures. */
export type CallError = EntityError | EntityUnavailable | ReplyUndecodable

/** The method of operation spec `D`. Payload-less operations take no argument. */
export type Method<D> = keyof PayloadFields<D> extends never
  ? (payload?: Payload<D>) => Effect.Effect<Success<D>, Failure<D> | CallError, EntitySender>
  : (payload: Payload<D>) => Effect.Effect<Success<D>, Failure<D> | CallError, EntitySender>

/** The typed client of one entity of protocol `P`: one method per command and query. */
export type EntityClient<P> = { readonly [K in OperationName<P>]: Method<SpecOf<P, K>> }

/**
 * Encodes the payload of operation `operation` as one CBOR item. `Left` when the kind has no
 * such operation or the payload does not encode with its schema.
 */
export const encodePayload = <P extends AnyProtocol, K extends OperationName<P>>(
  protocol: P,
  operation: K,
  payload: Payload<SpecOf<P, K>>,
): Either.Either<Cbor.Raw, EntityError> => {
  const op = protocol.operations.get(operation)
  if (op === undefined) return Either.left(new UnknownOperation({ kind: protocol.name, operation }))
  const encoded = op.payload.encode(payload)
  if (Either.isLeft(encoded)) return Either.left(new InvalidPayload({ operation, reason: encoded.left }))
  try {
    return Either.right(new Cbor.Raw(Cbor.encode(encoded.right)))
  } catch (e) {
    return Either.left(
      new InvalidPayload({ operation, reason: e instanceof Cbor.CborError ? e.message : String(e) }),
    )
  }
}

/**
 * Decodes the reply to operation `operation`: `Right(success)`, or `Left` with the declared
 * failure, the shard's `EntityError`, `EntityUnavailable` for a runtime error (a sender
 * normally retries those itself), or `ReplyUndecodable`.
 */
export const decodeReply = <P extends AnyProtocol, K extends OperationName<P>>(
  protocol: P,
  operation: K,
  reply: Uint8Array,
): Either.Either<
  Success<SpecOf<P, K>>,
  Failure<SpecOf<P, K>> | EntityError | EntityUnavailable | ReplyUndecodable
> => {
  const undecodable = (reason: string) => Either.left(new ReplyUndecodable({ operation, reason }))
  const op = protocol.operations.get(operation)
  if (op === undefined) return Either.left(new UnknownOperation({ kind: protocol.name, operation }))
  const envelope = Wire.decodeReply(reply)
  if (Either.isLeft(envelope)) return undecodable(envelope.left)
  const { status, body } = envelope.right
  if (status === Wire.ReplyStatus.Success)
    return Either.match(op.success.decode(body), {
      onLeft: undecodable,
      onRight: (a) => Either.right(a as Success<SpecOf<P, K>>),
    })
  if (status === Wire.ReplyStatus.Failure)
    return Either.match(op.failure.decode(body), {
      onLeft: undecodable,
      onRight: (e) => Either.left(e as Failure<SpecOf<P, K>>),
    })
  if (status === Wire.ReplyStatus.RuntimeError)
    return Either.match(Wire.decodeRuntimeErrorBody(body), {
      onLeft: undecodable,
      onRight: (e) =>
        Either.left(new EntityUnavailable({ kind: protocol.name, operation, reason: e.message })),
    })
  return Either.match(Wire.decodeEntityErrorBody(body), {
    onLeft: undecodable,
    onRight: (e) => Either.left(e),
  })
}

/** Builds the typed client of entity `entityId` (used by `Protocol.client`). */
export const makeClient = <P extends AnyProtocol>(
  protocol: P,
  entityId: string | Uint8Array,
  options?: ClientOptions,
): EntityClient<P> => {
  const id = EntityId.make(entityId)
  const slot = EntityId.slotOf(id)
  const client: Record<string, (payload?: unknown) => Effect.Effect<unknown, unknown, EntitySender>> = {}
  for (const op of protocol.operations.values()) {
    client[op.name] = (payload = {}) =>
      Effect.gen(function* () {
        const bad = EntityId.invalidReason(id)
        if (bad !== undefined) return yield* Effect.fail(new InvalidEntityId({ reason: bad }))
        const raw = encodePayload(protocol, op.name as OperationName<P>, payload as never)
        if (Either.isLeft(raw)) return yield* Effect.fail(raw.left)
        const sender = yield* EntitySender
        const reply = yield* sender.send({
          kind: protocol.name,
          operation: op.name,
          type: op.type,
          entityId: id,
          slot,
          payload: raw.right,
          staleRead: op.type === "query" && options?.staleRead === true,
        })
        const decoded = decodeReply(protocol, op.name as OperationName<P>, reply)
        return Either.isRight(decoded) ? decoded.right : yield* Effect.fail(decoded.left)
      })
  }
  return client as unknown as EntityClient<P>
}

/**
 * The request bytes of a call, as a sender puts them on the wire: commands with the session
 * stamp, queries with the stale-read flag. Throws `RangeError` on a bad stamp (a sender bug).
 */
export const encodeCall = (call: EntityCall, stamp?: Wire.SessionStamp): Uint8Array => {
  if (call.type === "query")
    return Wire.encodeRequest(
      {
        type: "query",
        kind: call.kind,
        operation: call.operation,
        entityId: call.entityId,
        payload: call.payload,
      },
      { staleRead: call.staleRead },
    )
  const s = stamp ?? { session: 0, seq: 0, ackedBelow: 0 }
  if (s.session !== 0 && s.seq < 1) throw new RangeError(`seq must be >= 1 in a session, got ${s.seq}`)
  return Wire.encodeRequest({
    type: "command",
    kind: call.kind,
    operation: call.operation,
    entityId: call.entityId,
    payload: call.payload,
    ...s,
  })
}
