/**
 * The protocol of the KV entity kind, as clients see it: the kind's name, operations and
 * schemas, without the handlers that only shards run.
 *
 * `shards/kv/Kv.ts` defines the kind with its handlers; the layer rule (docs/architecture.md)
 * keeps `src/client` below `shards/`, so the client declares the protocol here and the shard
 * takes its limits, error and CAS outcome from it; `test/client/Pure.test.ts` checks that the
 * two definitions agree byte for byte (names, operation types, request bytes, decoding of
 * real shard replies). Decision 0050.
 */
import { Schema } from "effect"
import { EntityId, EntityKind } from "../runtime/entity/index.js"

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

/** The outcome of a compare-and-set as the shard reports it. */
export const CasOutcome = Schema.Union(
  Schema.Struct({ succeeded: Schema.Literal(true) }),
  Schema.Struct({ succeeded: Schema.Literal(false), current: MaybeValue }),
)

/** The KV protocol. */
export const KvProtocol = EntityKind.make(KIND, {
  state: MaybeValue,
  initial: null,
  commands: {
    Put: {
      payload: { value: Value },
      success: Schema.Struct({ created: Schema.Boolean }),
      failure: ValueTooLarge,
    },
    Delete: { success: Schema.Struct({ deleted: Schema.Boolean }) },
    Cas: {
      payload: { expected: MaybeValue, value: MaybeValue },
      success: CasOutcome,
      failure: ValueTooLarge,
    },
  },
  queries: {
    Get: { success: MaybeValue },
  },
})
