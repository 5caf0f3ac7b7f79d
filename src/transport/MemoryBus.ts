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
  type PublishError,
  type RequestError,
  type RequestOptions,
  RequestTimeout,
  type SubscribeOptions,
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

/** The subscriptions of a bus, and which of them a message goes to. */
class SubscriptionTable {
  private readonly exact = new Map<string, Set<Sub>>()
  private readonly wildcard = new Set<Sub>()
  /** Round-robin position of each queue group. */
  private readonly cursors = new Map<string, number>()
  private nextId = 1
  /** Subscriptions open now. */
  size = 0

  /** The id of a new subscription (ids order queue group members). */
  newId(): number {
    return this.nextId++
  }

  add(sub: Sub): void {
    this.size++
    if (hasWildcard(sub.subject)) {
      this.wildcard.add(sub)
      return
    }
    let set = this.exact.get(sub.subject)
    if (set === undefined) this.exact.set(sub.subject, (set = new Set()))
    set.add(sub)
  }

  remove(sub: Sub): void {
    this.size--
    if (this.wildcard.delete(sub)) return
    const set = this.exact.get(sub.subject)
    set?.delete(sub)
    if (set?.size === 0) this.exact.delete(sub.subject)
  }

  /** The subscriptions a message on `subject` goes to: every plain one, one per queue group. */
  route(subject: string): Sub[] {
    const matching: Sub[] = []
    const direct = this.exact.get(subject)
    if (direct !== undefined) for (const s of direct) matching.push(s)
    for (const s of this.wildcard) if (subjectMatches(s.subject, subject)) matching.push(s)
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
      const cursor = this.cursors.get(key) ?? 0
      this.cursors.set(key, cursor + 1)
      targets.push(members[cursor % members.length]!)
    }
    return targets
  }
}

/** What every handle of one bus shares. */
class SharedBus {
  readonly table = new SubscriptionTable()
  readonly counters = { published: 0, delivered: 0, dropped: 0, noResponders: 0 }
  private nextInbox = 1

  constructor(readonly maxPayload: number) {}

  /** A fresh reply subject for a request. */
  newInbox(): string {
    return `_INBOX.memory.${this.nextInbox++}`
  }

  /** Hands `delivery` to every target, counting what was delivered and what dropped. */
  dispatch(targets: ReadonlyArray<Sub>, delivery: Delivery): void {
    for (const sub of targets) {
      if (sub.offer(delivery)) this.counters.delivered++
      else this.counters.dropped++
    }
  }

  stats(): MemoryBusStats {
    return { ...this.counters, subscriptions: this.table.size }
  }
}

/** One handle's state: closed when its scope ends. */
interface Handle {
  closed: boolean
  /** Fails with `BusClosed` once the handle is closed. */
  readonly whenOpen: Effect.Effect<void, BusClosed>
}

const noReplyNow: BusMessage["unsafeRespond"] = () => false

/** Creates a memory bus. */
export const make = (options: MemoryBusOptions = {}): Effect.Effect<MemoryBus> =>
  Effect.sync(() => {
    const bus = new SharedBus(options.maxPayload ?? 1024 * 1024)
    return {
      maxPayload: bus.maxPayload,
      connect: connect(bus),
      stats: Effect.sync(() => bus.stats()),
    }
  })

/** A handle on `bus` for the scope's lifetime. */
const connect = (bus: SharedBus): Effect.Effect<BusService, never, Scope.Scope> =>
  Effect.gen(function* () {
    const handle: Handle = {
      closed: false,
      whenOpen: Effect.suspend(() =>
        handle.closed
          ? Effect.fail(new BusClosed({ message: "this memory bus handle is closed" }))
          : Effect.void,
      ),
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => (handle.closed = true)))
    return {
      maxPayload: () => bus.maxPayload,
      publish: (subject, data) => publish(bus, handle, subject, data),
      request: (subject, data, options) => request(bus, handle, subject, data, options),
      subscribe: (subject, options) => subscribe(bus, handle, subject, options),
    } satisfies BusService
  })

const publish = (
  bus: SharedBus,
  handle: Handle,
  subject: string,
  data: Uint8Array,
): Effect.Effect<void, PublishError> =>
  Effect.gen(function* () {
    yield* checkPublishSubject(subject)
    yield* checkPayload(subject, data, bus.maxPayload)
    yield* handle.whenOpen
    bus.counters.published++
    bus.dispatch(bus.table.route(subject), {
      subject,
      data,
      reply: undefined,
      respond: (bytes) => Effect.as(checkPayload("(no reply subject)", bytes, bus.maxPayload), false),
      unsafeRespond: noReplyNow,
    })
  })

/** A request: delivered with a reply subject, answered by the first `respond`, or times out. */
const request = (
  bus: SharedBus,
  handle: Handle,
  subject: string,
  data: Uint8Array,
  options: RequestOptions,
): Effect.Effect<Uint8Array, RequestError> =>
  Effect.gen(function* () {
    yield* checkPublishSubject(subject)
    yield* checkPayload(subject, data, bus.maxPayload)
    yield* handle.whenOpen
    bus.counters.published++
    const targets = bus.table.route(subject)
    if (targets.length === 0) {
      bus.counters.noResponders++
      return yield* new NoResponders({ subject, message: `no responders on ${subject}` })
    }
    const answer = yield* Deferred.make<Uint8Array>()
    const reply = bus.newInbox()
    const respond: BusMessage["respond"] = (bytes) =>
      Effect.zipRight(
        checkPayload(reply, bytes, bus.maxPayload),
        Effect.as(Deferred.succeed(answer, bytes), true),
      )
    const unsafeRespond: BusMessage["unsafeRespond"] = (bytes) => {
      if (bytes.length > bus.maxPayload) return false
      Deferred.unsafeDone(answer, Exit.succeed(bytes))
      return true
    }
    bus.dispatch(targets, { subject, data, reply, respond, unsafeRespond })
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
  })

/** A subscription for the scope's lifetime: a handler called inline, or a dropping buffer. */
const subscribe = (
  bus: SharedBus,
  handle: Handle,
  subject: string,
  options: SubscribeOptions = {},
): Effect.Effect<BusSubscription, BusClosed | InvalidSubject, Scope.Scope> =>
  Effect.gen(function* () {
    yield* checkSubscribeSubject(subject)
    const queueName = options.queue
    if (queueName !== undefined && !isValidPublishSubject(queueName))
      return yield* new InvalidSubject({
        subject,
        message: `queue ${JSON.stringify(queueName)} is invalid`,
      })
    yield* handle.whenOpen
    const buffer = yield* Effect.acquireRelease(
      Queue.dropping<BusMessage>(options.capacity ?? DEFAULT_SUBSCRIPTION_CAPACITY),
      Queue.shutdown,
    )
    let dropped = 0
    const sub: Sub = {
      id: bus.table.newId(),
      subject,
      queue: queueName,
      offer: (message) => {
        if (handle.closed) return false
        const handler = options.handler
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
      Effect.sync(() => bus.table.add(sub)),
      () => Effect.sync(() => bus.table.remove(sub)),
    )
    return {
      subject,
      queue: queueName,
      take: Queue.take(buffer),
      messages: Stream.fromQueue(buffer),
      dropped: () => dropped,
    } satisfies BusSubscription
  })
