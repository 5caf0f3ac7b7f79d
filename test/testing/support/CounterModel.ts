/**
 * The sequential model of the Counter kind (examples/counter/Counter.ts) for the
 * linearizability checker: one counter per entity id, `Add` answering the new value or
 * `CounterOverflow` (and leaving the counter unchanged), `Reset` answering the old value,
 * `Get` the current one. Histories are split by entity id.
 */
import { CounterOverflow } from "../../../examples/counter/Counter.js"
import { type Model, partitionBy } from "../../../src/testing/Linearizability.js"

/** An operation on the counter `id`. */
export type CounterInput =
  | { readonly id: string; readonly op: "add"; readonly by: number }
  | { readonly id: string; readonly op: "reset" }
  | { readonly id: string; readonly op: "get" }

/** What the typed client answers: a number, or the declared failure of `Add`. */
export type CounterOutput = number | CounterOverflow

/** The model; an unknown outcome fits anywhere (an `Add` then applies exactly when it fits). */
export const counterModel: Model<number, CounterInput, CounterOutput> = {
  init: 0,
  step: (n, input, output) => {
    switch (input.op) {
      case "add": {
        const next = n + input.by
        const fits = Number.isSafeInteger(next)
        if (output === undefined) return { ok: true, state: fits ? next : n }
        if (typeof output === "number") return { ok: fits && output === next, state: next }
        return { ok: !fits && output.value === n && output.by === input.by, state: n }
      }
      case "reset":
        return { ok: output === undefined || output === n, state: 0 }
      case "get":
        return { ok: output === undefined || output === n, state: n }
    }
  },
  key: (n) => String(n),
  readOnly: (input) => input.op === "get",
  partition: partitionBy((input) => input.id),
}

/** A deliberately wrong model: it thinks `Reset` leaves the counter alone. */
export const resetForgettingModel: Model<number, CounterInput, CounterOutput> = {
  ...counterModel,
  step: (n, input, output) =>
    input.op === "reset"
      ? { ok: output === undefined || output === n, state: n }
      : counterModel.step(n, input, output),
}

export { CounterOverflow }
