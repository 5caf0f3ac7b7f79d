/**
 * The key-value store, as an ordinary entity kind: the entity id is the key, the state is the
 * value (bytes), absent keys are in the initial state `null` and so are not stored.
 *
 * Commands: `Put { value }`, `Delete`, `Cas { expected, value }` (compare-and-set: `expected`
 * null means "expect the key absent", `value` null means "delete"). Query: `Get`. Range scans
 * are the generic shard scan (`scanRequest` / `decodeScan`), in byte order of keys.
 *
 * LIMITS: keys 1 .. `MAX_KEY_BYTES` bytes (the entity id limit; longer keys get
 * `InvalidEntityId`), values at most `MAX_VALUE_BYTES` (larger ones fail with
 * `ValueTooLarge`). A CAS carries two values, so the value limit is set for two values plus
 * a key to fit in one NATS message of 1 MiB with room for Raft framing (docs/decisions/0042).
 */
import { Either, Schema } from "effect"
import type { EntityUnavailable, ReplyUndecodable } from "../../src/runtime/entity/EntityClient.js"
import type { EntityError } from "../../src/runtime/entity/EntityError.js"
import { EntityId, EntityKind, ShardScan, type Wire } from "../../src/runtime/entity/index.js"

/** The kind's name; also its keyspace's name. */
export const KIND = "kv"

/** Longest key, in bytes (the entity id limit). */
export const MAX_KEY_BYTES = EntityId.MAX_ENTITY_ID_BYTES
/** Largest value, in bytes (448 KiB, docs/decisions/0042). */
export const MAX_VALUE_BYTES = 448 * 1024

/** The shard refused a value larger than its limit (the client checks first, so this is rare). */
export class ValueTooLarge extends Schema.TaggedError<ValueTooLarge>()("ValueTooLarge", {
  size: Schema.Number,
  limit: Schema.Number,
}) {}

const Value = Schema.Uint8ArrayFromSelf
const MaybeValue = Schema.NullOr(Schema.Uint8ArrayFromSelf)

/** The outcome of a compare-and-set: on a mismatch, the value actually found. */
export const CasResult = Schema.Union(
  Schema.Struct({ succeeded: Schema.Literal(true) }),
  Schema.Struct({ succeeded: Schema.Literal(false), current: MaybeValue }),
)

/** The outcome of a compare-and-set. */
export type CasResult = typeof CasResult.Type

const tooLarge = (value: Uint8Array | null) =>
  value !== null && value.length > MAX_VALUE_BYTES
    ? EntityKind.fail(new ValueTooLarge({ size: value.length, limit: MAX_VALUE_BYTES }))
    : undefined

const sameValue = (a: Uint8Array | null, b: Uint8Array | null): boolean =>
  a === null || b === null ? a === b : EntityId.equals(a, b)

/** The KV protocol: operations and schemas without the handlers (what clients use). */
export const KvProtocol = EntityKind.make(KIND, {
  state: MaybeValue,
  initial: null,
  commands: {
    /** Sets the value; `created` says whether the key was absent. */
    Put: {
      payload: { value: Value },
      success: Schema.Struct({ created: Schema.Boolean }),
      failure: ValueTooLarge,
    },
    /** Removes the key; `deleted` says whether it was present. */
    Delete: { success: Schema.Struct({ deleted: Schema.Boolean }) },
    /** Sets `value` (null: deletes) if the current value equals `expected` (null: absent). */
    Cas: { payload: { expected: MaybeValue, value: MaybeValue }, success: CasResult, failure: ValueTooLarge },
  },
  queries: {
    /** The value, or null when the key is absent. */
    Get: { success: MaybeValue },
  },
})

/** The KV entity kind: the protocol with its handlers, what a shard hosts. */
export const Kv = KvProtocol.handlers({
  Put: (_, { value }, ctx) => tooLarge(value) ?? { state: value, reply: { created: !ctx.exists } },
  Delete: (_, __, ctx) => ({ state: null, reply: { deleted: ctx.exists } }),
  Cas: (current, { expected, value }) =>
    tooLarge(value) ??
    (sameValue(current, expected)
      ? { state: value, reply: { succeeded: true } as const }
      : { state: current, reply: { succeeded: false, current } as const }),
  Get: (current) => current,
})

/** One key and its value, from a scan. */
export interface KvEntry {
  readonly key: Uint8Array
  readonly value: Uint8Array
}

/** A page of a KV scan. */
export interface KvPage {
  readonly entries: ReadonlyArray<KvEntry>
  /** Pass as `after` to read the next page; `undefined` at the end of the range. */
  readonly continuation: Uint8Array | undefined
}

/** The request bytes of a scan of one KV shard (values included). */
export const scanRequest = (
  range: Omit<Wire.ScanRange, "values">,
  options?: { readonly staleRead?: boolean },
): Uint8Array => ShardScan.encodeRequest(Kv, { ...range, values: true }, options)

/** Decodes the reply of `scanRequest`. */
export const decodeScan = (
  reply: Uint8Array,
): Either.Either<KvPage, EntityError | EntityUnavailable | ReplyUndecodable> =>
  Either.map(ShardScan.decodeReply(Kv, reply), (page) => ({
    entries: page.entries.flatMap((e) =>
      e.state instanceof Uint8Array ? [{ key: e.id, value: e.state }] : [],
    ),
    continuation: page.continuation,
  }))
