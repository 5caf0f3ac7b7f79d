/**
 * A bus for client unit tests whose requests wait until the test answers them, and `settle`,
 * which lets forked fibers run until they wait.
 */
import { Deferred, Effect } from "effect"
import type { BusService, RequestError } from "../../../src/transport/Bus.js"

/** One request the bus holds: answer it through `answer`. */
export interface HeldRequest {
  readonly subject: string
  readonly data: Uint8Array
  readonly timeout: number
  readonly answer: Deferred.Deferred<Uint8Array, RequestError>
}

/** A bus whose requests wait in `sent` until the test answers them. */
export const waitingBus = (maxPayload = 1024 * 1024) => {
  const sent: HeldRequest[] = []
  const bus: BusService = {
    maxPayload: () => maxPayload,
    publish: () => Effect.void,
    subscribe: () => Effect.die("not used"),
    request: (subject, data, options) =>
      Effect.flatMap(Deferred.make<Uint8Array, RequestError>(), (answer) => {
        sent.push({ subject, data, timeout: Number(options.timeout), answer })
        return Deferred.await(answer)
      }),
  }
  return { bus, sent }
}

/** Lets forked fibers run until they wait, across a few turns of the event loop. */
export const settle = Effect.repeatN(
  Effect.zipRight(
    Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve))),
    Effect.repeatN(Effect.yieldNow(), 20),
  ),
  3,
)
