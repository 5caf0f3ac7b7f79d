/**
 * The `Bus` service: everything that is not Raft traffic. Clients send requests to group
 * leaders on `<prefix>.<c>.group.<gid>`, simple clients to `<prefix>.<c>.kv` (a queue group
 * across nodes), the metadata group's leader listens on `<prefix>.<c>.meta` (see Subjects.ts).
 *
 * Semantics are NATS core's, in both implementations (`layerNats` over a `NatsConnection`,
 * `layerMemory` over an in-process `MemoryBus`):
 * - `request` resolves with the first reply, or fails with `NoResponders` at once when nobody
 *   subscribes to the subject, or `RequestTimeout`;
 * - a queue group delivers each message to ONE of its members;
 * - subjects hold dot-separated tokens; subscriptions may use `*` (one token) and a final `>`
 *   (one or more tokens); a payload above the bus's `max_payload` is refused with
 *   `PayloadTooLarge` before anything is sent;
 * - a subscription buffers at most `capacity` messages; more are dropped and counted (a
 *   dropped request then times out at its sender), like a NATS slow consumer.
 *
 * Over NATS, a request that fails for another reason than these (a permissions violation,
 * say) is reported as `RequestTimeout` carrying the client's message, and a subscription the
 * server refuses is logged as a warning.
 */
import type { Msg } from "@nats-io/transport-node"
import { Context, Data, Duration, Effect, Layer, Queue, Runtime, type Scope, Stream } from "effect"
import { NatsConnection, type NatsConnectionService } from "./NatsConnection.js"
import { isValidPublishSubject, isValidSubscribeSubject } from "./Subjects.js"

/** Nobody subscribes to the subject: for a group subject, "no leader now, retry with backoff". */
export class NoResponders extends Data.TaggedError("NoResponders")<{
  readonly subject: string
  readonly message: string
}> {}

/** No reply within the request's timeout. */
export class RequestTimeout extends Data.TaggedError("RequestTimeout")<{
  readonly subject: string
  readonly timeoutMillis: number
  readonly message: string
}> {}

/** The bus (the node's connection, or its memory bus handle) is closed or draining. */
export class BusClosed extends Data.TaggedError("BusClosed")<{
  readonly message: string
}> {}

/** The payload exceeds the bus's `max_payload`. */
export class PayloadTooLarge extends Data.TaggedError("PayloadTooLarge")<{
  readonly subject: string
  readonly size: number
  readonly limit: number
  readonly message: string
}> {}

/** The subject breaks NATS's subject rules (or has wildcards where none are allowed). */
export class InvalidSubject extends Data.TaggedError("InvalidSubject")<{
  readonly subject: string
  readonly message: string
}> {}

/** What `publish` can fail with. */
export type PublishError = BusClosed | PayloadTooLarge | InvalidSubject
/** What `request` can fail with. */
export type RequestError = NoResponders | RequestTimeout | BusClosed | PayloadTooLarge | InvalidSubject
/** What `respond` can fail with. */
export type RespondError = BusClosed | PayloadTooLarge

/** One received message. */
export interface BusMessage {
  readonly subject: string
  readonly data: Uint8Array
  /** Where the sender waits for a reply; undefined for a plain publish. */
  readonly reply: string | undefined
  /** Replies to a request; `false` (nothing sent) when the message expects no reply. */
  readonly respond: (data: Uint8Array) => Effect.Effect<boolean, RespondError>
  /**
   * Replies at once, outside Effect (hot paths that answer many requests per round): `true`
   * when sent; `false`, with nothing sent, when there is no reply subject, the payload is
   * above the limit or the bus is closed. Never throws.
   */
  readonly unsafeRespond: (data: Uint8Array) => boolean
}

/** A live subscription; it ends when its scope closes. */
export interface BusSubscription {
  readonly subject: string
  readonly queue: string | undefined
  /** Waits for the next message. */
  readonly take: Effect.Effect<BusMessage>
  /** The messages as a stream (use one consumer: `take` or this). */
  readonly messages: Stream.Stream<BusMessage>
  /** Messages dropped because the buffer was full. */
  readonly dropped: () => number
}

/** Options of `subscribe`. */
export interface SubscribeOptions {
  /** Join this queue group: each message goes to one member of the group. */
  readonly queue?: string
  /**
   * Hand every message to this function as it arrives, synchronously, instead of buffering it
   * for `take`/`messages` (which then never yield). For hot paths whose handling is a few
   * synchronous steps; the handler MUST NOT throw and MUST NOT block.
   */
  readonly handler?: (message: BusMessage) => void
  /** Messages buffered before new ones are dropped (default 65,536). */
  readonly capacity?: number
}

/** Options of `request`. */
export interface RequestOptions {
  readonly timeout: Duration.DurationInput
}

/** The bus of one node (or one client). */
export interface BusService {
  /** The largest payload the bus carries now. */
  readonly maxPayload: () => number
  /** Fire and forget. */
  readonly publish: (subject: string, data: Uint8Array) => Effect.Effect<void, PublishError>
  /** Sends a request and waits for the first reply. */
  readonly request: (
    subject: string,
    data: Uint8Array,
    options: RequestOptions,
  ) => Effect.Effect<Uint8Array, RequestError>
  /**
   * Subscribes for the scope's lifetime. The subscription is registered with the bus BEFORE
   * this effect completes, so a request sent afterwards can reach it.
   */
  readonly subscribe: (
    subject: string,
    options?: SubscribeOptions,
  ) => Effect.Effect<BusSubscription, BusClosed | InvalidSubject, Scope.Scope>
}

/** The node's request/reply bus. */
export class Bus extends Context.Tag("flotilla/Bus")<Bus, BusService>() {}

/** Default `SubscribeOptions.capacity`. */
export const DEFAULT_SUBSCRIPTION_CAPACITY = 65_536

/** Checks a subject for publishing. */
export const checkPublishSubject = (subject: string): Effect.Effect<void, InvalidSubject> =>
  isValidPublishSubject(subject) ? Effect.void : Effect.fail(invalidPublishSubject(subject))

const invalidPublishSubject = (subject: string) =>
  new InvalidSubject({ subject, message: `${JSON.stringify(subject)} is not a valid subject to publish to` })

/** Checks a subject for subscribing (wildcards allowed). */
export const checkSubscribeSubject = (subject: string): Effect.Effect<void, InvalidSubject> =>
  isValidSubscribeSubject(subject)
    ? Effect.void
    : Effect.fail(
        new InvalidSubject({
          subject,
          message: `${JSON.stringify(subject)} is not a valid subject to subscribe to`,
        }),
      )

/** Checks a payload against the bus's limit. */
export const checkPayload = (
  subject: string,
  data: Uint8Array,
  limit: number,
): Effect.Effect<void, PayloadTooLarge> =>
  data.length <= limit ? Effect.void : Effect.fail(payloadTooLarge(subject, data.length, limit))

const payloadTooLarge = (subject: string, size: number, limit: number) =>
  new PayloadTooLarge({
    subject,
    size,
    limit,
    message: `payload of ${size} bytes to ${subject} exceeds the bus's max_payload of ${limit}`,
  })

const closedError = () => new BusClosed({ message: "the NATS connection is closed or draining" })

const natsMessage = (conn: NatsConnectionService, msg: Msg): BusMessage => ({
  subject: msg.subject,
  data: msg.data,
  reply: msg.reply || undefined,
  respond: (data) =>
    Effect.zipRight(
      checkPayload(msg.reply ?? msg.subject, data, conn.maxPayload()),
      Effect.suspend(() => {
        if (!msg.reply) return Effect.succeed(false)
        if (conn.connection.isClosed()) return Effect.fail(closedError())
        try {
          return Effect.succeed(msg.respond(data))
        } catch {
          return Effect.fail(closedError())
        }
      }),
    ),
  unsafeRespond: (data) => {
    if (!msg.reply || data.length > conn.maxPayload() || conn.connection.isClosed()) return false
    try {
      return msg.respond(data)
    } catch {
      return false
    }
  },
})

/** The NATS implementation of the bus, over one connection. */
export const makeNatsBus = (conn: NatsConnectionService): BusService => {
  const nc = conn.connection
  const isClosed = () => nc.isClosed() || nc.isDraining()
  return {
    maxPayload: conn.maxPayload,
    publish: (subject, data) =>
      Effect.all([checkPublishSubject(subject), checkPayload(subject, data, conn.maxPayload())], {
        discard: true,
      }).pipe(
        Effect.zipRight(
          Effect.suspend(() => {
            if (isClosed()) return Effect.fail(closedError())
            try {
              nc.publish(subject, data)
              return Effect.void
            } catch {
              return Effect.fail(closedError())
            }
          }),
        ),
      ),
    request: (subject, data, options) => {
      const timeoutMillis = Duration.toMillis(Duration.decode(options.timeout))
      const failed = (e: unknown): RequestError => {
        const err = e as { name?: string; isNoResponders?: () => boolean }
        if (typeof err.isNoResponders === "function" && err.isNoResponders())
          return new NoResponders({ subject, message: `no responders on ${subject}` })
        if (err.name === "TimeoutError")
          return new RequestTimeout({
            subject,
            timeoutMillis,
            message: `no reply on ${subject} within ${timeoutMillis} ms`,
          })
        if (isClosed() || err.name === "ClosedConnectionError" || err.name === "DrainingConnectionError")
          return closedError()
        return new RequestTimeout({
          subject,
          timeoutMillis,
          message: `request on ${subject} failed: ${String(e)}`,
        })
      }
      // One effect for the whole request (the client's hot path): the checks run synchronously.
      return Effect.suspend(() => {
        if (!isValidPublishSubject(subject)) return Effect.fail(invalidPublishSubject(subject))
        const limit = conn.maxPayload()
        if (data.length > limit) return Effect.fail(payloadTooLarge(subject, data.length, limit))
        if (isClosed()) return Effect.fail(closedError())
        return Effect.async<Uint8Array, RequestError>((resume) => {
          nc.request(subject, data, { timeout: Math.max(1, Math.ceil(timeoutMillis)) }).then(
            (msg) => resume(Effect.succeed(msg.data)),
            (e) => resume(Effect.fail(failed(e))),
          )
        })
      })
    },
    subscribe: (subject, options = {}) =>
      Effect.gen(function* () {
        yield* checkSubscribeSubject(subject)
        if (options.queue !== undefined && !isValidPublishSubject(options.queue))
          return yield* new InvalidSubject({
            subject,
            message: `queue ${JSON.stringify(options.queue)} is invalid`,
          })
        if (isClosed()) return yield* closedError()
        const runtime = yield* Effect.runtime<never>()
        const queue = yield* Effect.acquireRelease(
          Queue.dropping<BusMessage>(options.capacity ?? DEFAULT_SUBSCRIPTION_CAPACITY),
          Queue.shutdown,
        )
        let dropped = 0
        yield* Effect.acquireRelease(
          Effect.try({
            try: () =>
              nc.subscribe(subject, {
                ...(options.queue === undefined ? {} : { queue: options.queue }),
                callback: (err, msg) => {
                  if (err !== null) {
                    Runtime.runFork(runtime)(
                      Effect.logWarning(`bus: subscription to ${subject} failed: ${err.message}`),
                    )
                    return
                  }
                  const handler = options.handler
                  if (handler !== undefined) handler(natsMessage(conn, msg))
                  else if (!queue.unsafeOffer(natsMessage(conn, msg))) dropped++
                },
              }),
            catch: () => closedError(),
          }),
          (sub) => Effect.sync(() => sub.unsubscribe()),
        )
        yield* Effect.promise(() => nc.flush().catch(() => undefined)).pipe(
          Effect.timeout("5 seconds"),
          Effect.ignore,
        )
        return {
          subject,
          queue: options.queue,
          take: Queue.take(queue),
          messages: Stream.fromQueue(queue),
          dropped: () => dropped,
        } satisfies BusSubscription
      }),
  }
}

/** The bus over the node's NATS connection. */
export const layerNats: Layer.Layer<Bus, never, NatsConnection> = Layer.effect(
  Bus,
  Effect.map(NatsConnection, makeNatsBus),
)

/**
 * The bus over an in-process `MemoryBus` (a dev cluster with no nats-server): one layer per
 * node or client; when the layer's scope closes, its calls fail with `BusClosed`. The parameter
 * is typed by the one member used, so this module does not import MemoryBus.ts (which imports it).
 */
export const layerMemory = (bus: {
  readonly connect: Effect.Effect<BusService, never, Scope.Scope>
}): Layer.Layer<Bus> => Layer.scoped(Bus, bus.connect)

/** Options of `serve`. */
export interface ServeOptions extends SubscribeOptions {
  /** Requests handled at once (default 1: in order). */
  readonly concurrency?: number
}

/**
 * Answers requests on `subject` with `handler` for the scope's lifetime. A handler failure
 * is logged and the request left unanswered (its sender times out); a message without a
 * reply subject is handled and the result discarded.
 */
export const serve = <E, R>(
  subject: string,
  handler: (message: BusMessage) => Effect.Effect<Uint8Array, E, R>,
  options: ServeOptions = {},
): Effect.Effect<void, BusClosed | InvalidSubject, Bus | Scope.Scope | R> =>
  Effect.gen(function* () {
    const bus = yield* Bus
    const sub = yield* bus.subscribe(subject, options)
    const handle = (message: BusMessage) =>
      handler(message).pipe(
        Effect.flatMap((reply) => message.respond(reply)),
        Effect.catchAllCause((cause) => Effect.logWarning(`bus: handler on ${subject} failed`, cause)),
      )
    yield* Effect.forkScoped(
      Stream.runDrain(Stream.mapEffect(sub.messages, handle, { concurrency: options.concurrency ?? 1 })),
    )
  })
