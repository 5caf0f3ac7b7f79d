/**
 * The contract of the `Transport` service (Transport.ts): what one node's Raft transport does
 * and counts. Apart from the tag and its layers so that the implementations
 * (internal/TransportCore.ts) can name it without importing the module that builds them.
 */
import type { Effect, Stream } from "effect"
import type { NodeId } from "../raft/Ids.js"
import type { Envelope } from "./Frame.js"

/** The messages of one inbound frame. */
export interface InboundBatch {
  readonly from: NodeId
  readonly envelopes: ReadonlyArray<Envelope>
}

/**
 * Why an inbound frame was dropped (`unauthenticated`: its tag does not verify with the
 * cluster secret, ClusterSecret.ts).
 */
export type InboundDropReason =
  | "malformed"
  | "truncated"
  | "oversized"
  | "foreign"
  | "overflow"
  /** A well-formed frame on the wrong subject (a MsgSnap on the raft subject or the reverse). */
  | "misrouted"
  | "unauthenticated"

/** Why outbound messages were not sent. */
export type OutboundDropReason =
  | "oversized"
  | "disconnected"
  | "closed"
  /** A message holding a value the codec cannot encode (never sent; never throws). */
  | "invalid"

/** Counters since the transport started. */
export interface TransportStats {
  /** Publishes made (frames). */
  readonly framesSent: number
  readonly bytesSent: number
  readonly envelopesSent: number
  /** Payloads received, good or bad. */
  readonly framesReceived: number
  readonly bytesReceived: number
  /** Envelopes admitted to the inbound queue. */
  readonly envelopesReceived: number
  /** Inbound frames dropped, by reason (each counted once). */
  readonly dropped: Readonly<Record<InboundDropReason, number>>
  /** Outbound: `oversized` and `invalid` count envelopes, `disconnected`/`closed` count frames. */
  readonly unsent: Readonly<Record<OutboundDropReason, number>>
  /** Batches waiting in the inbound queue now. */
  readonly inboundBatches: number
  /** Frame bytes waiting in the inbound queue now. */
  readonly inboundBytes: number
}

/** The transport of one node. */
export interface TransportService {
  readonly nodeId: NodeId
  readonly cluster: string
  /** Sends every envelope to node `to` in one publish (see CONTRACTS). */
  readonly send: (to: NodeId, envelopes: ReadonlyArray<Envelope>) => Effect.Effect<void>
  /** Waits for the next inbound batch. */
  readonly take: Effect.Effect<InboundBatch>
  /** Every inbound batch waiting now (possibly none), without waiting. */
  readonly takeAll: Effect.Effect<ReadonlyArray<InboundBatch>>
  /** Inbound batches as a stream (use one consumer: `take`, `takeAll` or this). */
  readonly inbound: Stream.Stream<InboundBatch>
  /**
   * Registers `listener`, called synchronously each time a batch becomes available (then
   * `takeAll` gets it). For an engine loop that waits on its own wake-up signal rather than on
   * the transport. The listener MUST NOT throw; a later call replaces it.
   */
  readonly unsafeOnInbound: (listener: () => void) => void
  /**
   * Waits until the receive path has stopped for good (its subscription failed, or the
   * connection closed while the transport was open) and succeeds with the reason; never
   * completes while frames can arrive. The node supervises it (docs/decisions/0070).
   */
  readonly receiveFailure: Effect.Effect<string>
  /** A snapshot of the counters. */
  readonly stats: Effect.Effect<TransportStats>
}
