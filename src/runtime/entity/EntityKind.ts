/**
 * Entity kinds: how an application defines a sharded entity.
 *
 * A kind has a name, a state schema with an initial state, and named operations: commands
 * (may change the entity's state; go through the Raft log) and queries (read-only). Each
 * operation has Schema-typed payload fields, a success schema and an optional failure schema.
 * `make` declares the protocol; `.handlers({...})` adds the deterministic handlers:
 *
 *   const Counter = EntityKind.make("Counter", {
 *     state: Schema.Struct({ n: Schema.Number }),
 *     initial: { n: 0 },
 *     commands: { Add: { payload: { by: Schema.Number }, success: Schema.Number } },
 *     queries: { Get: { success: Schema.Number } },
 *   }).handlers({
 *     Add: (s, { by }) => ({ state: { n: s.n + by }, reply: s.n + by }),
 *     Get: (s) => s.n,
 *   })
 *
 * Every entity id conceptually exists, in the initial state until a command changes it. A
 * SHARD STORES ONLY ENTITIES WHOSE STATE DIFFERS FROM THE INITIAL STATE (compared by their
 * encoded bytes): a command that returns the initial state removes the entity from the
 * shard's table, scans and counts.
 *
 * HANDLERS MUST BE PURE AND DETERMINISTIC: no clock (use `ctx.time`), no randomness, no I/O,
 * no mutation of the state or payload they are given. A thrown exception or a state/reply
 * that the schemas reject becomes a `HandlerDefect` reply and changes nothing.
 */
import { Either, Schema } from "effect"
import * as Cbor from "./Cbor.js"
import { type ClientOptions, type EntityClient, makeClient } from "./EntityClient.js"
import {
  type AnyProtocol,
  type AnySchema,
  type Codec,
  codecOf,
  type Failure,
  type Operation,
  type OperationSpec,
  type OperationSpecs,
  type Payload,
  type Success,
} from "./EntityProtocol.js"

// The protocol's types and codecs have their own module so that EntityClient, which this
// module uses to build clients, need not import this one; they are re-exported here.
export * from "./EntityProtocol.js"

/** A handler's way to fail with one of the operation's declared failures. */
export class Failed<E> {
  readonly _tag = "Failed"
  constructor(readonly error: E) {}
}

/** Fails an operation with `error` (of its failure schema); the state stays unchanged. */
export const fail = <E>(error: E): Failed<E> => new Failed(error)

/**
 * What a command handler returns on success: the new state and the reply. The reply may be
 * omitted when the success type admits `undefined` (as `Schema.Void`'s does).
 */
export type Applied<S, A> = [undefined] extends [A]
  ? { readonly state: S; readonly reply?: A }
  : { readonly state: S; readonly reply: A }

/** What a command handler sees besides state and payload. */
export interface CommandContext {
  readonly entityId: Uint8Array
  /** Whether the entity is stored (its state differs from the initial state). */
  readonly exists: boolean
  /** The Raft log index of the command. */
  readonly index: number
  /** The shard clock: the latest proposer time seen, in ms (0 before any stamped command). */
  readonly time: number
}

/** What a query handler sees besides state and payload. */
export interface QueryContext {
  readonly entityId: Uint8Array
  /** Whether the entity is stored (its state differs from the initial state). */
  readonly exists: boolean
}

/** A command handler for operation spec `D` over state `S`. */
export type CommandHandler<S, D> = (
  state: S,
  payload: Payload<D>,
  ctx: CommandContext,
) => Applied<S, Success<D>> | Failed<Failure<D>>

/** A query handler for operation spec `D` over state `S`. */
export type QueryHandler<S, D> = (
  state: S,
  payload: Payload<D>,
  ctx: QueryContext,
) => Success<D> | Failed<Failure<D>>

/** One handler per command and per query. */
export type Handlers<S, C extends OperationSpecs, Q extends OperationSpecs> = {
  readonly [K in keyof C]: CommandHandler<S, C[K]>
} & { readonly [K in keyof Q]: QueryHandler<S, Q[K]> }

/** A kind's protocol: everything a client needs (no handlers). */
export interface Protocol<
  Name extends string = string,
  State extends AnySchema = AnySchema,
  C extends OperationSpecs = OperationSpecs,
  Q extends OperationSpecs = OperationSpecs,
> extends AnyProtocol {
  readonly name: Name
  readonly stateSchema: State
  readonly initial: Schema.Schema.Type<State>
  readonly commands: C
  readonly queries: Q
  /** Codec of the state. */
  readonly state: Codec<Schema.Schema.Type<State>>
  /** Adds the handlers, giving a kind a shard can host. */
  handlers(handlers: Handlers<Schema.Schema.Type<State>, C, Q>): Kind<Name, State, C, Q>
  /** The typed client of one entity (requires an `EntitySender` in the context). */
  client(entityId: string | Uint8Array, options?: ClientOptions): EntityClient<Protocol<Name, State, C, Q>>
}

/**
 * A handler with its types erased: the shard calls it with a state and payload that the
 * schemas have already decoded, and a `CommandContext` or `QueryContext`.
 */
export type AnyHandler = (state: unknown, payload: unknown, ctx: CommandContext | QueryContext) => unknown

/** What every kind has at run time (the constraint of generic helpers). */
export interface AnyKind extends AnyProtocol {
  /** The handler of an operation (untyped: the shard has already decoded the payload). */
  readonly handlerOf: (operation: string) => AnyHandler | undefined
}

/** A protocol with its handlers: what `ShardStateMachine` hosts. */
export interface Kind<
  Name extends string = string,
  State extends AnySchema = AnySchema,
  C extends OperationSpecs = OperationSpecs,
  Q extends OperationSpecs = OperationSpecs,
> extends Protocol<Name, State, C, Q> {
  /** The handler of an operation (untyped: the shard has already decoded the payload). */
  readonly handlerOf: AnyKind["handlerOf"]
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/

const compile = (name: string, type: "command" | "query", spec: OperationSpec): Operation => ({
  name,
  type,
  payload: codecOf(Schema.Struct(spec.payload ?? {}) as unknown as Schema.Schema<unknown, unknown, never>),
  success: codecOf((spec.success ?? Schema.Void) as Schema.Schema<unknown, unknown, never>),
  failure: codecOf((spec.failure ?? Schema.Never) as Schema.Schema<unknown, unknown, never>),
})

/**
 * Declares an entity kind's protocol. Throws a TypeError on a definition error (a bad name, an
 * operation name used twice, an initial state the state schema rejects): these are bugs found
 * when the module loads.
 */
export const make = <
  const Name extends string,
  State extends AnySchema,
  const C extends OperationSpecs = {},
  const Q extends OperationSpecs = {},
>(
  name: Name,
  spec: {
    readonly state: State
    readonly initial: NoInfer<Schema.Schema.Type<State>>
    readonly commands?: C
    readonly queries?: Q
  },
): Protocol<Name, State, C, Q> => {
  if (!NAME.test(name)) throw new TypeError(`entity kind name ${JSON.stringify(name)} must match ${NAME}`)
  const commands = (spec.commands ?? {}) as C
  const queries = (spec.queries ?? {}) as Q
  const operations = new Map<string, Operation>()
  for (const [type, specs] of [
    ["command", commands],
    ["query", queries],
  ] as const) {
    for (const [op, s] of Object.entries(specs)) {
      if (!NAME.test(op))
        throw new TypeError(`${name}: operation name ${JSON.stringify(op)} must match ${NAME}`)
      if (operations.has(op)) throw new TypeError(`${name}: operation ${op} is declared twice`)
      operations.set(op, compile(op, type, s))
    }
  }
  const state = codecOf(spec.state as Schema.Schema<Schema.Schema.Type<State>, unknown, never>)
  const encodedInitial = state.encode(spec.initial)
  if (Either.isLeft(encodedInitial))
    throw new TypeError(`${name}: initial state rejected: ${encodedInitial.left}`)
  const initialBytes = Cbor.encode(encodedInitial.right)
  const protocol: Protocol<Name, State, C, Q> = {
    name,
    stateSchema: spec.state,
    initial: spec.initial,
    commands,
    queries,
    operations,
    state,
    initialBytes,
    handlers: (handlers) => {
      const table = handlers as unknown as Record<string, AnyHandler>
      for (const op of operations.keys())
        if (typeof table[op] !== "function") throw new TypeError(`${name}: no handler for ${op}`)
      for (const op of Object.keys(table))
        if (!operations.has(op)) throw new TypeError(`${name}: handler ${op} matches no operation`)
      return { ...protocol, handlerOf: (op) => (operations.has(op) ? table[op] : undefined) }
    },
    client: (entityId, options) => makeClient(protocol, entityId, options),
  }
  return protocol
}
