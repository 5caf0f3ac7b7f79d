/**
 * The reference entity kind: a counter per entity id. Its commands add to it and reset it,
 * its query reads it; adding past the largest safe integer fails with `CounterOverflow`
 * and leaves the counter unchanged. A counter at 0 is in the initial state, so the shard
 * does not store it (it disappears from scans and counts).
 */
import { Schema } from "effect"
import { EntityKind } from "../../src/runtime/entity/index.js"

/** Adding `by` to `value` would leave the range of safe integers. */
export class CounterOverflow extends Schema.TaggedError<CounterOverflow>()("CounterOverflow", {
  value: Schema.Number,
  by: Schema.Number,
}) {}

/** The Counter kind: protocol and handlers. */
export const Counter = EntityKind.make("Counter", {
  state: Schema.Struct({ n: Schema.Int }),
  initial: { n: 0 },
  commands: {
    /** Adds `by` (may be negative); replies with the new value. */
    Add: { payload: { by: Schema.Int }, success: Schema.Int, failure: CounterOverflow },
    /** Sets the counter to 0; replies with the value it had. */
    Reset: { success: Schema.Int },
  },
  queries: {
    /** The current value. */
    Get: { success: Schema.Int },
  },
}).handlers({
  Add: ({ n }, { by }) => {
    const next = n + by
    return Number.isSafeInteger(next)
      ? { state: { n: next }, reply: next }
      : EntityKind.fail(new CounterOverflow({ value: n, by }))
  },
  Reset: ({ n }) => ({ state: { n: 0 }, reply: n }),
  Get: ({ n }) => n,
})
