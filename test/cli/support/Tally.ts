/** An entity kind for the backup tests: a running total per entity (`Add` returns the new total). */
import { Schema } from "effect"
import { EntityKind } from "../../../src/runtime/entity/index.js"

export const Tally = EntityKind.make("Tally", {
  state: Schema.Struct({ total: Schema.Int }),
  initial: { total: 0 },
  commands: { Add: { payload: { n: Schema.Int }, success: Schema.Int } },
  queries: {},
}).handlers({
  Add: (s, { n }) => ({ state: { total: s.total + n }, reply: s.total + n }),
})
