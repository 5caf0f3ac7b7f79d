/**
 * The application's entity kind: the stock of one product. Restock adds units, Reserve takes
 * some if there are enough (or fails with `OutOfStock`, leaving the stock as it was), Available
 * reads it. Everything comes from the package's entry point, as any application would have it.
 */
import { Schema } from "effect"
import { EntityKind } from "flotilla"

/** A reservation asked for more units than the product has. */
export class OutOfStock extends Schema.TaggedError<OutOfStock>()("OutOfStock", {
  available: Schema.Int,
  wanted: Schema.Int,
}) {}

/** The Stock kind: protocol and handlers. */
export const Stock = EntityKind.make("Stock", {
  state: Schema.Struct({ units: Schema.Int }),
  initial: { units: 0 },
  commands: {
    /** Adds `units` (positive); replies with the new stock. */
    Restock: { payload: { units: Schema.Int.pipe(Schema.positive()) }, success: Schema.Int },
    /** Takes `units` (positive) if there are enough; replies with what is left. */
    Reserve: {
      payload: { units: Schema.Int.pipe(Schema.positive()) },
      success: Schema.Int,
      failure: OutOfStock,
    },
  },
  queries: {
    /** The units in stock. */
    Available: { success: Schema.Int },
  },
}).handlers({
  Restock: ({ units }, p) => ({ state: { units: units + p.units }, reply: units + p.units }),
  Reserve: ({ units }, p) =>
    p.units > units
      ? EntityKind.fail(new OutOfStock({ available: units, wanted: p.units }))
      : { state: { units: units - p.units }, reply: units - p.units },
  Available: ({ units }) => units,
})
