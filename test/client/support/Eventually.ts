/** Polling for tests that wait on a cluster to converge. */
import { Effect } from "effect"

/** Runs `effect` until `ok` holds of its value (at most 500 times, 20 ms apart); the last value. */
export const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>, ok: (a: A) => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; ; i++) {
      const a = yield* effect
      if (ok(a) || i >= 500) return a
      yield* Effect.sleep("20 millis")
    }
  })
