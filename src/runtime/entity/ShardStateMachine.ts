/**
 * The state machine of one shard of an entity kind: every entity of the kind whose slot the
 * shard owns, plus the shard's client sessions and clock. It implements the runtime's
 * `StateMachine` contract over the byte format of `Wire`.
 *
 * `apply` runs commands (exactly once per session seq, see `Sessions`), opens and closes
 * sessions, and answers reads that came through the log; `query` answers reads (entity
 * queries, scans, counts) and refuses writes with `NotAQuery`.
 *
 * CONTRACT, beyond `StateMachine`'s:
 * - NEITHER `apply` NOR `query` THROWS on any input, and A REQUEST ANSWERED WITH AN
 *   `EntityError` CHANGES NOTHING but the shard clock (no entity, no session). Requests that do
 *   not decode (`MalformedRequest`, `UnsupportedVersion`, `RequestTooLarge`) or name another
 *   kind (`WrongKind`) do not even move the clock.
 * - A well-formed request for this kind advances the shard clock to its proposer time when
 *   that is later; sessions then expire by that clock. The clock never goes back.
 * - The outcome of a command depends only on the state, the request bytes and the log index;
 *   every replica built with the same kind and options gives the same replies and the same
 *   snapshot bytes.
 */
import { Either } from "effect"
import type { StateMachine } from "../StateMachine.js"
import * as Cbor from "./Cbor.js"
import {
  type EntityError,
  HandlerDefect,
  InvalidEntityId,
  InvalidPayload,
  UnknownOperation,
} from "./EntityError.js"
import { equals, invalidReason } from "./EntityId.js"
import { type AnyKind, Failed, type Operation } from "./EntityKind.js"
import { OrderedMap } from "./OrderedMap.js"
import { defaultLimits, type SessionLimits, SessionTable } from "./Sessions.js"
import { type EntityRequest, type ReadRequest, ShardRequests } from "./ShardRequests.js"
import * as ShardScan from "./ShardScan.js"
import * as ShardSnapshot from "./ShardSnapshot.js"
import * as Wire from "./Wire.js"

/** Options of a shard. EVERY REPLICA OF A SHARD MUST USE THE SAME VALUES. */
export interface ShardOptions {
  /** Session limits; defaults to `Sessions.defaultLimits`. */
  readonly sessions?: Partial<SessionLimits>
}

const message = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e))

/** Hosts the entities of one kind that fall in one shard. */
export class ShardStateMachine<S = unknown> implements StateMachine {
  private entities = new OrderedMap<S>()
  /** Decoding, the shard clock and exactly-once sessions (ShardRequests.ts). */
  private readonly requests: ShardRequests
  private readonly limits: SessionLimits

  private constructor(
    readonly kind: AnyKind,
    options: ShardOptions,
  ) {
    this.limits = { ...defaultLimits, ...options.sessions }
    this.requests = new ShardRequests(kind.name, new SessionTable(this.limits), {
      run: (request, index) => this.runCommand(request, index),
      read: (request) => this.read(request),
    })
  }

  /** A shard of `kind` with no entities and no sessions. */
  static make<K extends AnyKind>(kind: K, options: ShardOptions = {}): ShardStateMachine<K["initial"]> {
    return new ShardStateMachine<K["initial"]>(kind, options)
  }

  /** Number of stored entities (those not in the initial state). */
  get entityCount(): number {
    return this.entities.size
  }

  /** Number of live sessions. */
  get sessionCount(): number {
    return this.requests.sessions.size
  }

  /** The shard clock (latest proposer time seen, ms). */
  get time(): number {
    return this.requests.clock
  }

  /** The state of an entity (the initial state when it is not stored). For tests and tools. */
  stateOf(entityId: Uint8Array): S {
    return this.entities.get(entityId) ?? (this.kind.initial as S)
  }

  /** Applies the command committed at `index`. Never throws. */
  apply(command: Uint8Array, index: number): Uint8Array {
    return this.requests.apply(command, index)
  }

  /** Answers a read. Never throws, never changes state. */
  query(request: Uint8Array): Uint8Array {
    return this.requests.query(request)
  }

  /** The whole state as bytes (see `ShardSnapshot`). */
  snapshot(): Uint8Array {
    return ShardSnapshot.encode(
      this.kind.name,
      { clock: this.requests.clock, sessions: this.requests.sessions, entities: this.entities },
      (s) => this.encodeStored(s),
    )
  }

  /** Replaces the whole state with a snapshot's; throws `SnapshotCorrupt` and keeps the old state on bad bytes. */
  restore(snapshot: Uint8Array): void {
    const state = ShardSnapshot.decode(this.kind, this.limits, snapshot)
    this.requests.clock = state.clock
    this.requests.sessions = state.sessions
    this.entities = state.entities as OrderedMap<S>
  }

  private read(request: ReadRequest): Uint8Array {
    switch (request.type) {
      case "query":
        return this.runQuery(request)
      case "count":
        return Wire.successReply(this.entities.size)
      case "scan":
        return Either.match(
          ShardScan.run(this.entities, request.range, (s) => this.encodeStored(s)),
          { onLeft: Wire.errorReply, onRight: (reply) => reply },
        )
    }
  }

  /** CBOR bytes of a stored state. Stored states were validated when applied or restored. */
  private encodeStored(state: S): Uint8Array {
    const encoded = this.kind.state.encode(state)
    if (Either.isLeft(encoded))
      throw new Error(`${this.kind.name}: a stored state no longer encodes: ${encoded.left}`)
    return Cbor.encode(encoded.right)
  }

  /** The operation, id and payload of an entity request, or the error reply. */
  private prepare(request: EntityRequest): Either.Either<{ op: Operation; payload: unknown }, EntityError> {
    const op = this.kind.operations.get(request.operation)
    if (op === undefined || op.type !== request.type)
      return Either.left(new UnknownOperation({ kind: this.kind.name, operation: request.operation }))
    const invalid = invalidReason(request.entityId)
    if (invalid !== undefined) return Either.left(new InvalidEntityId({ reason: invalid }))
    const payload = op.payload.decode(request.payload)
    if (Either.isLeft(payload))
      return Either.left(new InvalidPayload({ operation: op.name, reason: payload.left }))
    return Either.right({ op, payload: payload.right })
  }

  private runQuery(request: EntityRequest): Uint8Array {
    const prepared = this.prepare(request)
    if (Either.isLeft(prepared)) return Wire.errorReply(prepared.left)
    const { op, payload } = prepared.right
    const stored = this.entities.get(request.entityId)
    const defect = (reason: string) => Wire.errorReply(new HandlerDefect({ operation: op.name, reason }))
    try {
      const result = this.kind.handlerOf(op.name)!(stored ?? this.kind.initial, payload, {
        entityId: request.entityId,
        exists: stored !== undefined,
      })
      return this.encodeOutcome(op, result, defect)
    } catch (e) {
      return defect(`the handler threw ${message(e)}`)
    }
  }

  private encodeOutcome(op: Operation, result: unknown, defect: (reason: string) => Uint8Array): Uint8Array {
    if (result instanceof Failed) {
      const failure = op.failure.encode(result.error)
      if (Either.isLeft(failure)) return defect(`the failure does not encode: ${failure.left}`)
      return Wire.failureReply(failure.right)
    }
    const reply = op.success.encode(result)
    if (Either.isLeft(reply)) return defect(`the reply does not encode: ${reply.left}`)
    return Wire.successReply(reply.right)
  }

  private runCommand(request: EntityRequest, index: number): Uint8Array {
    const prepared = this.prepare(request)
    if (Either.isLeft(prepared)) return Wire.errorReply(prepared.left)
    const { op, payload } = prepared.right
    const id = request.entityId
    const stored = this.entities.get(id)
    const defect = (reason: string) => Wire.errorReply(new HandlerDefect({ operation: op.name, reason }))
    let outcome: {
      readonly reply: Uint8Array
      readonly next?: { readonly state: S; readonly initial: boolean }
    }
    try {
      outcome = this.evaluate(
        op,
        stored,
        payload,
        { entityId: id, exists: stored !== undefined, index },
        defect,
      )
    } catch (e) {
      return defect(`the handler threw ${message(e)}`)
    }
    // The state changes only here, after every step that could fail has succeeded.
    if (outcome.next !== undefined) {
      if (outcome.next.initial) this.entities.delete(id)
      else this.entities.set(id, outcome.next.state)
    }
    return outcome.reply
  }

  /** Runs a command handler and encodes its outcome; may throw (the handler's or CBOR's errors). */
  private evaluate(
    op: Operation,
    stored: S | undefined,
    payload: unknown,
    ctx: { readonly entityId: Uint8Array; readonly exists: boolean; readonly index: number },
    defect: (reason: string) => Uint8Array,
  ): { readonly reply: Uint8Array; readonly next?: { readonly state: S; readonly initial: boolean } } {
    const result = this.kind.handlerOf(op.name)!(stored ?? this.kind.initial, payload, {
      ...ctx,
      time: this.requests.clock,
    })
    if (result instanceof Failed) return { reply: this.encodeOutcome(op, result, defect) }
    if (typeof result !== "object" || result === null || !("state" in result))
      return { reply: defect("the handler returned neither { state, reply } nor EntityKind.fail(...)") }
    const { state, reply } = result as { readonly state: unknown; readonly reply?: unknown }
    const encodedState = this.kind.state.encode(state)
    if (Either.isLeft(encodedState))
      return { reply: defect(`the new state does not encode: ${encodedState.left}`) }
    const stateBytes = Cbor.encode(encodedState.right)
    const normalized = this.kind.state.decode(encodedState.right)
    if (Either.isLeft(normalized))
      return { reply: defect(`the new state does not decode: ${normalized.left}`) }
    const replyBytes = this.encodeOutcome(op, reply, defect)
    if (replyBytes[1] !== Wire.ReplyStatus.Success) return { reply: replyBytes }
    return {
      reply: replyBytes,
      next: { state: normalized.right as S, initial: equals(stateBytes, this.kind.initialBytes) },
    }
  }
}
