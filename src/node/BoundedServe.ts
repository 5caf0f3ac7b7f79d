/**
 * Serving a request subject with bounded work: at most `concurrency` requests are handled at
 * once and at most `maxPending` are held (handled or waiting); a request beyond that is
 * answered at once with the endpoint's `Overloaded` reply (or dropped, when it has none) and
 * counted, so a flood can neither grow a queue without bound nor starve the node. Every
 * request is handled inside its own fiber with every failure and defect caught: no request can
 * stop the endpoint (issue 11, finding 5: one deep request used to kill the gateway's loop).
 */
import { Cause, Effect, FiberSet, type Scope } from "effect"
import type { BusClosed, BusMessage, BusService, InvalidSubject } from "../transport/Bus.js"

/** How much an endpoint takes on. */
export interface BoundedServeOptions {
  /** Queue group to join (the KV gateway's `kv`), if any. */
  readonly queue?: string
  /** Requests handled at once. */
  readonly concurrency: number
  /** Requests held at once, handled or waiting (>= concurrency). */
  readonly maxPending: number
}

/** How one endpoint answers. */
export interface BoundedHandler {
  /** The reply to one request; may fail or die (answered with `internal`). */
  readonly handle: (data: Uint8Array) => Effect.Effect<Uint8Array, unknown>
  /** The reply to a request refused because the endpoint is full; undefined: drop it. */
  readonly overloaded: (() => Uint8Array) | undefined
  /** The reply to a request whose handling failed (the cause is logged); undefined: none. */
  readonly internal: (() => Uint8Array) | undefined
  /** Names the endpoint in log lines. */
  readonly name: string
}

/** Counters of a bounded endpoint. */
export interface BoundedServeStats {
  readonly pending: () => number
  readonly overloaded: () => number
  readonly failed: () => number
}

/** Serves `subject` on `bus` with `handler` for the scope's lifetime. */
export const serveBounded = (
  bus: BusService,
  subject: string,
  options: BoundedServeOptions,
  handler: BoundedHandler,
): Effect.Effect<BoundedServeStats, BusClosed | InvalidSubject, Scope.Scope> =>
  Effect.gen(function* () {
    if (!(options.concurrency >= 1 && options.maxPending >= options.concurrency))
      throw new RangeError("serveBounded: need concurrency >= 1 and maxPending >= concurrency")
    const run = yield* FiberSet.makeRuntime<never, void, never>()
    let pending = 0
    let overloaded = 0
    let failed = 0
    // Requests being handled (at most `concurrency`), and those held until one of them ends:
    // plain counters and a queue, no semaphore (this is every request's path).
    let active = 0
    const held: BusMessage[] = []
    const start = (msg: BusMessage): void => {
      active++
      run(answer(msg))
    }
    const ended = Effect.sync(() => {
      pending--
      active--
      const next = held.shift()
      if (next !== undefined) start(next)
    })
    const answer = (msg: BusMessage): Effect.Effect<void> =>
      Effect.suspend(() => handler.handle(msg.data)).pipe(
        Effect.map((reply): Uint8Array | undefined => reply),
        Effect.catchAllCause((cause) => {
          failed++
          const first = Cause.pretty(cause).split("\n", 1)[0]!.slice(0, 300)
          return Effect.as(Effect.logError(`${handler.name}: request failed: ${first}`), handler.internal?.())
        }),
        Effect.flatMap((reply) => (reply === undefined ? Effect.succeed(false) : msg.respond(reply))),
        Effect.catchAllCause((cause) =>
          Effect.logWarning(`${handler.name}: reply failed: ${Cause.pretty(cause).split("\n", 1)[0]}`),
        ),
        Effect.ensuring(ended),
      )
    const onMessage = (msg: BusMessage): void => {
      if (pending >= options.maxPending) {
        overloaded++
        if (handler.overloaded !== undefined) msg.unsafeRespond(handler.overloaded())
        return
      }
      pending++
      if (active < options.concurrency) start(msg)
      else held.push(msg)
    }
    yield* bus.subscribe(subject, {
      ...(options.queue === undefined ? {} : { queue: options.queue }),
      handler: onMessage,
    })
    return { pending: () => pending, overloaded: () => overloaded, failed: () => failed }
  })
