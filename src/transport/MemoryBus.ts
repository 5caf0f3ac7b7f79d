/**
 * An in-process bus with NATS core semantics, for a dev cluster with no nats-server and for
 * tests: exact subjects plus the wildcards `*` and `>`, queue groups that deliver each
 * message to one member (round-robin, so runs are deterministic), `NoResponders` when no
 * subscription matches a request, and the payload limit enforced like NATS's `max_payload`.
 *
 * Create one `MemoryBus` per simulated cluster with `make`, then give every node and client
 * its own `Bus.layerMemory(memoryBus)`. Delivery is synchronous (inside `publish`), and
 * request timeouts run on Effect's `Clock`, so `TestClock` controls them.
 *
 * A NATS queue group is identified by the subscription's subject AND the queue name; so is
 * one here. Replies do not travel on `_INBOX` subjects: `respond` completes the request
 * directly (a subscription to `_INBOX.>` sees nothing).
 */
import { Deferred, Duration, Effect, Exit, Queue, type Scope, Stream } from "effect"
import {
  BusClosed,
  type BusMessage,
  type BusService,
  type BusSubscription,
  checkPayload,
  checkPublishSubject,
  checkSubscribeSubject,
  DEFAULT_SUBSCRIPTION_CAPACITY,
  InvalidSubject,
  NoResponders,
  RequestTimeout,
} from "./Bus.js"
import { hasWildcard, isValidPublishSubject, subjectMatches } from "./Subjects.js"

/** Options of `make`. */
export interface MemoryBusOptions {
  /** Largest payload, like NATS's `max_payload` (default 1 MiB). */
  readonly maxPayload?: number
}

/** Counters of a memory bus. */
export interface MemoryBusStats {
  /** Messages published (requests included). */
  readonly published: number
  /** Message copies handed to subscriptions. */
  readonly delivered: number
  /** Copies dropped because a subscription's buffer was full. */
  readonly dropped: number
  /** Requests that found no subscription. */
  readonly noResponders: number
  /** Subscriptions open now. */
  readonly subscriptions: number
}

/** The shared in-process bus. */
export interface MemoryBus {
  readonly maxPayload: number
  /** A `BusService` handle for the scope's lifetime (what `Bus.layerMemory` provides). */
  readonly connect: Effect.Effect<BusService, never, Scope.Scope>
  /** Counters since the bus was made. */
  readonly stats: Effect.Effect<MemoryBusStats>
}

interface Sub {
  readonly id: number
  readonly subject: string
  readonly queue: string | undefined
  /** Hands a message over; false when the buffer is full. */
  readonly offer: (message: BusMessage) => boolean
}

interface Delivery {
  readonly subject: string
  readonly data: Uint8Array
  readonly reply: string | undefined
  readonly respond: BusMessage["respond"]
  readonly unsafeRespond: BusMessage["unsafeRespond"]
}

/** Creates a memory bus. */
export const make = (options: MemoryBusOptions = {}): Effect.Effect<MemoryBus> =>
  Effect.sync(() => {
    const maxPayload = options.maxPayload ?? 1024 * 1024
    const exact = new Map<string, Set<Sub>>()
    const wildcard = new Set<Sub>()
    const cursors = new Map<string, number>()
    let nextSubId = 1
    let nextInbox = 1
    const counters = { published: 0, delivered: 0, dropped: 0, noResponders: 0, subscriptions: 0 }

    const add = (sub: Sub) => {
      counters.subscriptions++
      if (hasWildcard(sub.subject)) {
        wildcard.add(sub)
        return
      }
      let set = exact.get(sub.subject)
      if (set === undefined) exact.set(sub.subject, (set = new Set()))
      set.add(sub)
    }
    const remove = (sub: Sub) => {
      counters.subscriptions--
      if (wildcard.delete(sub)) return
      const set = exact.get(sub.subject)
      set?.delete(sub)
      if (set?.size === 0) exact.delete(sub.subject)
    }

    /** The subscriptions a message on `subject` goes to: every plain one, one per queue group. */
    const route = (subject: string): Sub[] => {
      const matching: Sub[] = []
      const direct = exact.get(subject)
      if (direct !== undefined) for (const s of direct) matching.push(s)
      for (const s of wildcard) if (subjectMatches(s.subject, subject)) matching.push(s)
      const targets: Sub[] = []
      const groups = new Map<string, Sub[]>()
      for (const s of matching) {
        if (s.queue === undefined) {
          targets.push(s)
          continue
        }
        const key = `${s.subject}\u0000${s.queue}`
        let members = groups.get(key)
        if (members === undefined) groups.set(key, (members = []))
        members.push(s)
      }
      for (const [key, members] of groups) {
        members.sort((a, b) => a.id - b.id)
        const cursor = cursors.get(key) ?? 0
        cursors.set(key, cursor + 1)
        targets.push(members[cursor % members.length]!)
      }
      return targets
    }

    const dispatch = (targets: ReadonlyArray<Sub>, delivery: Delivery) => {
      for (const sub of targets) {
        if (sub.offer(delivery)) counters.delivered++
        else counters.dropped++
      }
    }

    const connect: Effect.Effect<BusService, never, Scope.Scope> = Effect.gen(function* () {
      let closed = false
      yield* Effect.addFinalizer(() => Effect.sync(() => (closed = true)))
      const whenOpen = Effect.suspend(() =>
        closed ? Effect.fail(new BusClosed({ message: "this memory bus handle is closed" })) : Effect.void,
      )
      const noReply: BusMessage["respond"] = (data) =>
        Effect.as(checkPayload("(no reply subject)", data, maxPayload), false)
      const noReplyNow: BusMessage["unsafeRespond"] = () => false

      const service: BusService = {
        maxPayload: () => maxPayload,
        publish: (subject, data) =>
          Effect.gen(function* () {
            yield* checkPublishSubject(subject)
            yield* checkPayload(subject, data, maxPayload)
            yield* whenOpen
            counters.published++
            dispatch(route(subject), {
              subject,
              data,
              reply: undefined,
              respond: noReply,
              unsafeRespond: noReplyNow,
            })
          }),
        request: (subject, data, options) =>
          Effect.gen(function* () {
            yield* checkPublishSubject(subject)
            yield* checkPayload(subject, data, maxPayload)
            yield* whenOpen
            counters.published++
            const targets = route(subject)
            if (targets.length === 0) {
              counters.noResponders++
              return yield* new NoResponders({ subject, message: `no responders on ${subject}` })
            }
            const answer = yield* Deferred.make<Uint8Array>()
            const reply = `_INBOX.memory.${nextInbox++}`
            const respond: BusMessage["respond"] = (bytes) =>
              Effect.zipRight(
                checkPayload(reply, bytes, maxPayload),
                Effect.as(Deferred.succeed(answer, bytes), true),
              )
            const unsafeRespond: BusMessage["unsafeRespond"] = (bytes) => {
              if (bytes.length > maxPayload) return false
              Deferred.unsafeDone(answer, Exit.succeed(bytes))
              return true
            }
            dispatch(targets, { subject, data, reply, respond, unsafeRespond })
            const timeout = Duration.decode(options.timeout)
            return yield* Deferred.await(answer).pipe(
              Effect.timeoutFail({
                duration: timeout,
                onTimeout: () => {
                  const timeoutMillis = Duration.toMillis(timeout)
                  return new RequestTimeout({
                    subject,
                    timeoutMillis,
                    message: `no reply on ${subject} within ${timeoutMillis} ms`,
                  })
                },
              }),
            )
          }),
        subscribe: (subject, subscribeOptions = {}) =>
          Effect.gen(function* () {
            yield* checkSubscribeSubject(subject)
            const queueName = subscribeOptions.queue
            if (queueName !== undefined && !isValidPublishSubject(queueName))
              return yield* new InvalidSubject({
                subject,
                message: `queue ${JSON.stringify(queueName)} is invalid`,
              })
            yield* whenOpen
            const buffer = yield* Effect.acquireRelease(
              Queue.dropping<BusMessage>(subscribeOptions.capacity ?? DEFAULT_SUBSCRIPTION_CAPACITY),
              Queue.shutdown,
            )
            let dropped = 0
            const sub: Sub = {
              id: nextSubId++,
              subject,
              queue: queueName,
              offer: (message) => {
                if (closed) return false
                const handler = subscribeOptions.handler
                if (handler !== undefined) {
                  handler(message)
                  return true
                }
                if (buffer.unsafeOffer(message)) return true
                dropped++
                return false
              },
            }
            yield* Effect.acquireRelease(
              Effect.sync(() => add(sub)),
              () => Effect.sync(() => remove(sub)),
            )
            return {
              subject,
              queue: queueName,
              take: Queue.take(buffer),
              messages: Stream.fromQueue(buffer),
              dropped: () => dropped,
            } satisfies BusSubscription
          }),
      }
      return service
    })

    return {
      maxPayload,
      connect,
      stats: Effect.sync(() => ({ ...counters })),
    }
  })
