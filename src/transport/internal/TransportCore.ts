/**
 * What the NATS and in-memory transports share: splitting a send into frames and subjects,
 * decoding and admitting inbound frames into a bounded queue, the counters, and the log of
 * refused frames. An implementation supplies only `publish` (one payload on one subject) and
 * the current payload limit, and feeds every payload it receives to `receive`.
 */
import { Chunk, Deferred, Effect, Either, Exit, Queue, type Scope, Stream } from "effect"
import type { NodeId } from "../../raft/Ids.js"
import { MessageType } from "../../raft/Types.js"
import type { FrameAuth } from "../ClusterSecret.js"
import { clusterIdOf, decodeFrame } from "../Frame.js"
import { LogLimiter } from "../LogLimiter.js"
import { type ClusterSubjects, clusterSubjects } from "../Subjects.js"
import type {
  InboundBatch,
  InboundDropReason,
  OutboundDropReason,
  TransportService,
  TransportStats,
} from "../TransportService.js"
import { makeSendNow } from "./OutboundFrames.js"
import type { TransportIo } from "./TransportIo.js"

export type { PublishOutcome, TransportIo } from "./TransportIo.js"

/** Settings of the core, resolved from a layer's options. */
export interface CoreConfig {
  readonly cluster: string
  readonly subjectPrefix: string
  readonly nodeId: NodeId
  /** Inbound batches held before new ones are dropped as overflow. */
  readonly inboundCapacity: number
  /** Inbound bytes (of frames) held before new ones are dropped as overflow. */
  readonly inboundMaxBytes: number
  /** Upper bound of a payload this node sends or accepts, before the bus's own limit. */
  readonly maxPayload: number
  /**
   * Seals every outbound frame with the cluster secret's tag and drops every inbound frame
   * whose tag does not verify (as `unauthenticated`); none: frames travel without a tag.
   */
  readonly auth: FrameAuth | undefined
}

/** Bytes kept free under the payload limit when frames are cut (room for the tag and future headers). */
export const PAYLOAD_HEADROOM = 1024

/** Log lines waiting for the logging fiber; more are dropped (counters still count them). */
const LOG_BACKLOG = 256

interface Pending {
  readonly batch: InboundBatch
  readonly bytes: number
}

/** The core handed to an implementation. */
export interface TransportCore {
  readonly service: TransportService
  readonly subjects: ClusterSubjects
  /** Feeds one received payload (from `subject`) through decoding, checks and admission. */
  readonly receive: (payload: Uint8Array, subject: string) => void
  /** Logs a warning from synchronous code (bounded backlog: lines beyond it are dropped). */
  readonly warn: (line: string) => void
  /** The receive path stopped for good (see `TransportService.receiveFailure`); first reason wins. */
  readonly receiveDied: (reason: string) => void
}

const newDropCounters = (): Record<InboundDropReason, number> => ({
  malformed: 0,
  truncated: 0,
  oversized: 0,
  foreign: 0,
  overflow: 0,
  misrouted: 0,
  unauthenticated: 0,
})

/** Builds the core; its logging fiber lives as long as the scope. */
export const makeTransportCore = (
  config: CoreConfig,
  io: TransportIo,
): Effect.Effect<TransportCore, never, Scope.Scope> =>
  Effect.gen(function* () {
    const subjects = clusterSubjects(config.cluster, config.subjectPrefix)
    const clusterId = clusterIdOf(config.cluster)
    const expect = { clusterId, to: config.nodeId }
    const snapSubject = subjects.snap(config.nodeId)
    const queue = yield* Queue.unbounded<Pending>()
    const receiveFailure = yield* Deferred.make<string>()
    const logs = yield* Queue.dropping<string>(LOG_BACKLOG)
    yield* Effect.forkScoped(
      Effect.forever(Effect.flatMap(Queue.take(logs), (line) => Effect.logWarning(line))),
    )
    yield* Effect.addFinalizer(() => Queue.shutdown(queue))

    const stats = {
      framesSent: 0,
      bytesSent: 0,
      envelopesSent: 0,
      framesReceived: 0,
      bytesReceived: 0,
      envelopesReceived: 0,
      dropped: newDropCounters(),
      unsent: { oversized: 0, invalid: 0, disconnected: 0, closed: 0 } as Record<OutboundDropReason, number>,
    }
    let pendingBatches = 0
    let pendingBytes = 0
    const limiter = new LogLimiter("transport")
    const log = (line: string) => {
      for (const l of limiter.admit(line, Date.now())) logs.unsafeOffer(l)
    }

    const acceptLimit = () => Math.min(config.maxPayload, io.maxPayload())
    const frameLimit = () => acceptLimit() - PAYLOAD_HEADROOM

    const receive = (payload: Uint8Array, subject: string): void => {
      stats.framesReceived++
      stats.bytesReceived += payload.length
      const body = config.auth === undefined ? payload : config.auth.open(payload)
      if (body === undefined) {
        stats.dropped.unauthenticated++
        log(
          `transport: dropped unauthenticated frame on ${subject} (${payload.length} bytes): its tag does not verify with this cluster's secret`,
        )
        return
      }
      const decoded = decodeFrame(body, expect, acceptLimit())
      if (Either.isLeft(decoded)) {
        const e = decoded.left
        stats.dropped[e.reason]++
        log(
          `transport: dropped ${e.reason} frame on ${subject} (${payload.length} bytes, at byte ${e.offset}): ${e.detail}`,
        )
        return
      }
      const frame = decoded.right
      if (frame.envelopes.length === 0) return
      // Snapshot chunks travel alone on the snap subject, everything else on the raft subject.
      const onSnap = subject === snapSubject
      for (const env of frame.envelopes) {
        if ((env.message.type === MessageType.Snap) !== onSnap) {
          stats.dropped.misrouted++
          log(
            `transport: dropped misrouted frame on ${subject} from node ${frame.from}: message type ${env.message.type} of group ${env.groupId}`,
          )
          return
        }
      }
      if (
        pendingBatches >= config.inboundCapacity ||
        pendingBytes + payload.length > config.inboundMaxBytes
      ) {
        stats.dropped.overflow++
        log(
          `transport: dropped overflow frame on ${subject} from node ${frame.from}: inbound holds ${pendingBatches} batch(es), ${pendingBytes} bytes`,
        )
        return
      }
      pendingBatches++
      pendingBytes += payload.length
      stats.envelopesReceived += frame.envelopes.length
      queue.unsafeOffer({ batch: { from: frame.from, envelopes: frame.envelopes }, bytes: payload.length })
      try {
        listener?.()
      } catch (e) {
        // The listener must not throw (its contract); if it does, the frame is queued anyway.
        log(`transport: the inbound listener threw: ${String(e)}`)
      }
    }

    const release = (p: Pending): InboundBatch => {
      pendingBatches--
      pendingBytes -= p.bytes
      return p.batch
    }

    const sendNow = makeSendNow({
      nodeId: config.nodeId,
      clusterId,
      auth: config.auth,
      io,
      subjects,
      stats,
      log,
      frameLimit,
    })

    let listener: (() => void) | undefined

    const snapshotStats = (): TransportStats => ({
      framesSent: stats.framesSent,
      bytesSent: stats.bytesSent,
      envelopesSent: stats.envelopesSent,
      framesReceived: stats.framesReceived,
      bytesReceived: stats.bytesReceived,
      envelopesReceived: stats.envelopesReceived,
      dropped: { ...stats.dropped },
      unsent: { ...stats.unsent },
      inboundBatches: pendingBatches,
      inboundBytes: pendingBytes,
    })

    const service: TransportService = {
      nodeId: config.nodeId,
      cluster: config.cluster,
      send: (to, envelopes) => Effect.sync(() => sendNow(to, envelopes)),
      take: Effect.map(Queue.take(queue), release),
      takeAll: Effect.map(Queue.takeAll(queue), (chunk) => Chunk.toReadonlyArray(Chunk.map(chunk, release))),
      inbound: Stream.map(Stream.fromQueue(queue), release),
      stats: Effect.sync(snapshotStats),
      unsafeOnInbound: (l) => {
        listener = l
      },
      receiveFailure: Deferred.await(receiveFailure),
    }
    const receiveDied = (reason: string) => {
      Deferred.unsafeDone(receiveFailure, Exit.succeed(reason))
    }
    return { service, subjects, receive, warn: log, receiveDied }
  })
