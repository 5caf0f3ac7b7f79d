/**
 * What a kind's protocol is made of, at the type level and at run time: operation specs and
 * the types they give (payload, success, failure), the schema codecs operations compile to,
 * and `AnyProtocol`, what every protocol has. `EntityKind` builds protocols from these and
 * re-exports them; `EntityClient` types its calls with them.
 */
import { Either, ParseResult, Schema } from "effect"
import type * as Cbor from "./Cbor.js"

/** Schemas usable by a kind: no requirements, so they encode and decode synchronously. */
export type AnySchema = Schema.Schema.AnyNoContext

/** The schemas of one operation; missing parts default to `{}`, `Schema.Void`, `Schema.Never`. */
export interface OperationSpec {
  readonly payload?: Schema.Struct.Fields
  readonly success?: AnySchema
  readonly failure?: AnySchema
}

/** Operation name → spec. */
export type OperationSpecs = { readonly [name: string]: OperationSpec }

/** The payload fields of an operation spec. */
export type PayloadFields<D> = D extends { readonly payload: infer P extends Schema.Struct.Fields } ? P : {}
/** The payload type of an operation spec. */
export type Payload<D> = Schema.Struct.Type<PayloadFields<D>>
/** The success schema of an operation spec. */
export type SuccessSchema<D> = D extends { readonly success: infer A extends AnySchema }
  ? A
  : typeof Schema.Void
/** The success type of an operation spec. */
export type Success<D> = Schema.Schema.Type<SuccessSchema<D>>
/** The failure schema of an operation spec. */
export type FailureSchema<D> = D extends { readonly failure: infer E extends AnySchema }
  ? E
  : typeof Schema.Never
/** The failure type of an operation spec. */
export type Failure<D> = Schema.Schema.Type<FailureSchema<D>>

/** Schema encode/decode to and from CBOR-ready values, with errors as readable text. */
export interface Codec<A> {
  /** The Schema-encoded form of `value`, ready for `Cbor.encode`. */
  encode(value: A): Either.Either<Cbor.CborValue, string>
  /** Decodes a value (from `Cbor.decode`) with the schema. */
  decode(value: unknown): Either.Either<A, string>
}

const formatError = (e: ParseResult.ParseError): string => ParseResult.TreeFormatter.formatErrorSync(e)

/** The codec of a schema. */
export const codecOf = <A, I>(schema: Schema.Schema<A, I, never>): Codec<A> => {
  const encode = Schema.encodeEither(schema)
  const decode = Schema.decodeUnknownEither(schema)
  return {
    encode: (value) =>
      Either.mapLeft(encode(value) as Either.Either<Cbor.CborValue, ParseResult.ParseError>, formatError),
    decode: (value) => Either.mapLeft(decode(value), formatError),
  }
}

/** The compiled runtime form of one operation. */
export interface Operation {
  readonly name: string
  readonly type: "command" | "query"
  readonly payload: Codec<unknown>
  readonly success: Codec<unknown>
  readonly failure: Codec<unknown>
}

/** What every protocol has at run time (the constraint of generic helpers). */
export interface AnyProtocol {
  readonly name: string
  readonly stateSchema: AnySchema
  readonly initial: unknown
  readonly commands: OperationSpecs
  readonly queries: OperationSpecs
  /** Compiled operations by name (commands and queries share one namespace). */
  readonly operations: ReadonlyMap<string, Operation>
  /** Codec of the state. */
  readonly state: Codec<unknown>
  /** CBOR bytes of the encoded initial state. */
  readonly initialBytes: Uint8Array
}

/** Commands of a protocol. */
export type CommandsOf<P> = P extends { readonly commands: infer C } ? C : never
/** Queries of a protocol. */
export type QueriesOf<P> = P extends { readonly queries: infer Q } ? Q : never
/** State type of a protocol. */
export type StateOf<P> = P extends { readonly stateSchema: infer S extends AnySchema }
  ? Schema.Schema.Type<S>
  : never
/** The spec of operation `K` (a command or a query) of a protocol. */
export type SpecOf<P, K> = K extends keyof CommandsOf<P>
  ? CommandsOf<P>[K]
  : K extends keyof QueriesOf<P>
    ? QueriesOf<P>[K]
    : never
/** Names of all operations of a protocol. */
export type OperationName<P> = (keyof CommandsOf<P> | keyof QueriesOf<P>) & string
