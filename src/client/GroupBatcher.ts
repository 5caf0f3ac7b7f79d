/**
 * Automatic batching of the requests one process sends to one group (the client's last step
 * before the bus). Every routed request of every client that shares a router (the Effect client,
 * the Promise client, entity senders, the KV gateway, the CLI) goes through `send`:
 *
 * - when nothing is in flight to the group, the request goes at once, alone, on the group
 *   subject: no timer, so a lone caller pays nothing for batching;
 * - while a request or batch to the group is in flight, later requests queue; when it is
 *   answered (or fails), everything queued goes as ONE message on the group's batch subject
 *   (RequestBatch.ts), closed early by the count and payload limits, and the answers are
 *   handed back one by one. A queue of one goes alone on the group subject.
 *
 * Each request keeps its own bytes, so sessions and exactly-once retries are unchanged
 * (CallPath.ts stamps a command once; a retry resends the same bytes, batched or not), its own
 * answer or error, and its own wait: a queued request whose wait passes before its answer fails
 * with `RequestTimeout` like a lone one (conservatively: CallPath then treats its outcome as
 * unknown, even if it never left the queue).
 *
 * A batch's answer too large for one bus message comes back as `BATCH_REPLY_TOO_LARGE`: every
 * request of it was served, and each is resent alone (commands are deduplicated by their
 * sessions, reads are idempotent).
 */
import { Effect, Either, Exit } from "effect"
import type { GroupId } from "../raft/Ids.js"
import { decodeBatchReply, encodeBatch, MAX_BATCH } from "../runtime/RequestBatch.js"
import { type BusService, type RequestError, RequestTimeout } from "../transport/Bus.js"

/** Bytes a batch leaves unused below the bus's payload limit (headers, framing). */
const PAYLOAD_MARGIN = 4096

/** A request waiting in a group's queue. */
interface Waiter {
  readonly bytes: Uint8Array
  readonly waitMs: number
  /** Clock ms when the request's wait ends. */
  readonly waitsUntil: number
  /** Taken into a batch: its answer will come through `resume`. */
  sent: boolean
  resume: (exit: Exit.Exit<Uint8Array, RequestError>) => void
}

/** One group's traffic from this process. */
interface Lane {
  /** Messages (lone requests or batches) in flight. */
  inFlight: number
  /** A flush is scheduled for the next turn of the event loop. */
  flushing: boolean
  readonly queue: Waiter[]
}

/** Where the batcher counts batch messages and the requests they carried (RouterStats). */
export interface BatcherCounts {
  batches: number
  batchedRequests: number
}

export interface GroupBatcher {
  /**
   * Sends `bytes` to `subject` (the group's subject; its batch subject is `subject + ".batch"`)
   * and waits at most `waitMs` for the answer.
   */
  readonly send: (
    group: GroupId,
    subject: string,
    bytes: Uint8Array,
    waitMs: number,
  ) => Effect.Effect<Uint8Array, RequestError>
}

/**
 * A batcher over `bus`. `maxInFlight`: messages (lone requests or batches) one group may have
 * in flight from this process; more requests wait for one of them to be answered.
 */
export const make = (
  bus: BusService,
  counts: BatcherCounts,
  maxInFlight = 2,
  now: () => number = Date.now,
): GroupBatcher => {
  const lanes = new Map<GroupId, Lane>()

  const timeoutOf = (subject: string, waitMs: number) =>
    new RequestTimeout({
      subject,
      timeoutMillis: waitMs,
      message: `no reply on ${subject} within ${waitMs} ms`,
    })

  /** One message of `lane` is answered (or failed): what queued meanwhile may go. */
  const done = (group: GroupId, subject: string, lane: Lane): Effect.Effect<void> =>
    Effect.sync(() => {
      lane.inFlight--
      flushSoon(group, subject, lane)
    })

  /**
   * Sends the lane's queue in the event loop's next turn, so that callers that ask again as
   * soon as their answer comes (every closed-loop client) join one batch rather than the first
   * going alone and the rest waiting a round trip behind it. No timer: one turn of the loop.
   */
  const flushSoon = (group: GroupId, subject: string, lane: Lane): void => {
    if (lane.flushing) return
    lane.flushing = true
    setImmediate(() => flush(group, subject, lane))
  }

  /**
   * Sends batches from the queue while the lane has room; forgets an idle lane. Each batch runs
   * on a fiber of its own, which always ends (its bus request is bounded by the longest wait of
   * its requests) and always hands every request its answer or error; the callers wait in
   * `enqueue`, each under its own timeout.
   */
  const flush = (group: GroupId, subject: string, lane: Lane): void => {
    lane.flushing = false
    while (lane.queue.length > 0 && lane.inFlight < maxInFlight) {
      const batch = takeBatch(lane.queue, bus.maxPayload() - PAYLOAD_MARGIN)
      lane.inFlight++
      Effect.runFork(sendBatch(subject, batch).pipe(Effect.ensuring(done(group, subject, lane))))
    }
    if (lane.inFlight === 0 && lane.queue.length === 0 && lanes.get(group) === lane) lanes.delete(group)
  }

  /** Sends `batch` (one request alone, several as a batch) and hands out the answers. */
  const sendBatch = (subject: string, batch: Waiter[]): Effect.Effect<void> => {
    const waitMs = Math.max(1, Math.max(...batch.map((w) => w.waitsUntil)) - now())
    if (batch.length === 1) {
      const w = batch[0]!
      return Effect.map(Effect.exit(bus.request(subject, w.bytes, { timeout: waitMs })), (exit) =>
        w.resume(exit),
      )
    }
    counts.batches++
    counts.batchedRequests += batch.length
    const body = encodeBatch(batch.map((w) => w.bytes))
    return Effect.flatMap(
      Effect.either(bus.request(`${subject}.batch`, body, { timeout: waitMs })),
      (sent): Effect.Effect<void> => {
        if (Either.isLeft(sent)) {
          for (const w of batch) w.resume(Exit.fail(sent.left))
          return Effect.void
        }
        const reply = decodeBatchReply(sent.right)
        if ("tooLarge" in reply) return resendAlone(subject, batch)
        if ("error" in reply || reply.answers.length !== batch.length) {
          // Served in part or not at all, nobody can say: the outcome is unknown.
          const why =
            "error" in reply ? reply.error : `${reply.answers.length} answers to ${batch.length} requests`
          for (const w of batch)
            w.resume(Exit.fail(new RequestTimeout({ subject, timeoutMillis: w.waitMs, message: why })))
          return Effect.void
        }
        batch.forEach((w, i) => {
          w.resume(Exit.succeed(reply.answers[i]!))
        })
        return Effect.void
      },
    )
  }

  /** Every request of a batch whose answer was too large, resent alone and in parallel. */
  const resendAlone = (subject: string, batch: Waiter[]): Effect.Effect<void> =>
    Effect.forEach(
      batch,
      (w) =>
        Effect.map(
          Effect.exit(bus.request(subject, w.bytes, { timeout: Math.max(1, w.waitsUntil - now()) })),
          (exit) => w.resume(exit),
        ),
      { concurrency: "unbounded", discard: true },
    )

  /**
   * Queues a request for the lane's next batch; its answer or its timeout. The timeout is a
   * plain timer (no racing fiber: this is every queued request's path).
   */
  const enqueue = (group: GroupId, subject: string, lane: Lane, bytes: Uint8Array, waitMs: number) =>
    Effect.async<Uint8Array, RequestError>((resume) => {
      const leave = () => {
        clearTimeout(timer)
        // Timed out or interrupted before it was sent: it never leaves.
        if (!w.sent) lane.queue.splice(lane.queue.indexOf(w), 1)
        w.resume = () => {}
      }
      const w: Waiter = {
        bytes,
        waitMs,
        waitsUntil: now() + waitMs,
        sent: false,
        resume: (exit) => {
          clearTimeout(timer)
          w.resume = () => {}
          resume(exit)
        },
      }
      const timer = setTimeout(() => {
        leave()
        resume(Effect.fail(timeoutOf(subject, waitMs)))
      }, waitMs)
      lane.queue.push(w)
      if (lane.inFlight < maxInFlight) flushSoon(group, subject, lane)
      return Effect.sync(leave)
    })

  const send: GroupBatcher["send"] = (group, subject, bytes, waitMs) =>
    Effect.suspend(() => {
      let lane = lanes.get(group)
      if (lane === undefined) {
        lane = { inFlight: 0, flushing: false, queue: [] }
        lanes.set(group, lane)
      }
      // Nothing in flight to the group: at once and alone (no wait at one outstanding request).
      if (lane.inFlight > 0 || lane.queue.length > 0) return enqueue(group, subject, lane, bytes, waitMs)
      lane.inFlight++
      const own = lane
      return bus.request(subject, bytes, { timeout: waitMs }).pipe(Effect.ensuring(done(group, subject, own)))
    })

  return { send }
}

/** Takes the longest prefix of `queue` that fits one batch (at least one request). */
const takeBatch = (queue: Waiter[], maxBytes: number): Waiter[] => {
  let size = 2
  let n = 0
  while (n < queue.length && n < MAX_BATCH) {
    const next = 4 + queue[n]!.bytes.length
    if (n > 0 && size + next > maxBytes) break
    size += next
    n++
  }
  const batch = queue.splice(0, n)
  for (const w of batch) w.sent = true
  return batch
}
