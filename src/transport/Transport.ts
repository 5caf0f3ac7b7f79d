/**
 * The `Transport` service: a node's Raft traffic. The runtime hands it every message of one
 * engine round bound for one node in ONE `send`, and drains decoded inbound batches.
 *
 * CONTRACTS:
 * - `send(to, envelopes)` makes ONE publish on `<prefix>.<cluster>.raft.<to>` holding every
 *   envelope (heartbeats included, a few bytes each), unless the frame would exceed the
 *   payload limit (the bus's `max_payload`, at most `maxPayload`, minus `PAYLOAD_HEADROOM`):
 *   then as few publishes as fit, in order. Each MsgSnap envelope (one snapshot chunk, which
 *   the core keeps well under the limit) goes alone on `<prefix>.<cluster>.snap.<to>`.
 * - `send` never fails: Raft tolerates loss. A message that fits in no frame, or a frame that
 *   cannot be published (disconnected, closed), is counted in `stats.unsent` and dropped.
 *   A `to` that is not a node id, or a message not addressed to a replica on `to`, is a bug:
 *   the effect dies.
 * - With a cluster secret, every frame ends with its HMAC-SHA256 tag (ClusterSecret.ts); an
 *   inbound frame whose tag does not verify is dropped as `unauthenticated` before decoding.
 * - Inbound frames that are malformed, truncated, oversized or foreign (another cluster or
 *   another node) are counted in `stats.dropped`, logged in one line (reason, subject,
 *   detail) and dropped: they never reach a Raft core and never fail the node.
 * - Inbound is BOUNDED by `inboundCapacity` batches and `inboundMaxBytes` bytes: when the
 *   consumer lags, new frames are dropped and counted as `overflow`.
 *
 * Implementations: `layerNats` / `layerNatsConnection` over NATS, and `layerMemory` over a
 * `MemoryNetwork` with deterministic fault injection. Both pass test/transport/compliance.ts.
 */
import { Context, Effect, Layer } from "effect"
import { isNodeId, type NodeId } from "../raft/Ids.js"
import { type ClusterSecret, frameAuth } from "./ClusterSecret.js"
import { makeTransportCore, type PublishOutcome } from "./internal/TransportCore.js"
import type { MemoryNetwork } from "./MemoryNetwork.js"
import * as NatsConnectionModule from "./NatsConnection.js"
import { NatsConnection, type NatsConnectionError, type NatsConnectionOptions } from "./NatsConnection.js"
import { DEFAULT_SUBJECT_PREFIX, isPlainSubject, isPlainToken } from "./Subjects.js"
import type { TransportService } from "./TransportService.js"

export { PAYLOAD_HEADROOM } from "./internal/TransportCore.js"
export type {
  InboundBatch,
  InboundDropReason,
  OutboundDropReason,
  TransportService,
  TransportStats,
} from "./TransportService.js"

/** The node's Raft transport. */
export class Transport extends Context.Tag("flotilla/Transport")<Transport, TransportService>() {}

/** Settings shared by every implementation. */
export interface TransportOptions {
  /** One subject token (letters, digits, `_`, `-`). */
  readonly cluster: string
  readonly nodeId: NodeId
  /** First token(s) of every subject (default "flotilla"). */
  readonly subjectPrefix?: string
  /** Inbound batches held before overflow (default 4096). */
  readonly inboundCapacity?: number
  /** Inbound frame bytes held before overflow (default 64 MiB). */
  readonly inboundMaxBytes?: number
  /** Largest payload sent or accepted, before the bus's own limit (default 1 MiB). */
  readonly maxPayload?: number
  /**
   * The cluster secret: every frame sent carries its HMAC-SHA256 tag and every frame received
   * must (others are dropped as `unauthenticated`). Absent: frames carry no tag (tests, sims).
   */
  readonly clusterSecret?: ClusterSecret
}

/** Default `inboundCapacity`. */
export const DEFAULT_INBOUND_CAPACITY = 4096
/** Default `inboundMaxBytes`. */
export const DEFAULT_INBOUND_MAX_BYTES = 64 * 1024 * 1024
/** Default `maxPayload` (NATS's default `max_payload`). */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024

const resolve = (options: TransportOptions) => {
  if (!isNodeId(options.nodeId)) throw new RangeError(`nodeId ${options.nodeId} is not a node id`)
  const subjectPrefix = options.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX
  if (!isPlainToken(options.cluster))
    throw new RangeError(`cluster ${JSON.stringify(options.cluster)} is not one token`)
  if (!isPlainSubject(subjectPrefix))
    throw new RangeError(`subject prefix ${JSON.stringify(subjectPrefix)} is invalid`)
  const config = {
    cluster: options.cluster,
    subjectPrefix,
    nodeId: options.nodeId,
    inboundCapacity: options.inboundCapacity ?? DEFAULT_INBOUND_CAPACITY,
    inboundMaxBytes: options.inboundMaxBytes ?? DEFAULT_INBOUND_MAX_BYTES,
    maxPayload: options.maxPayload ?? DEFAULT_MAX_PAYLOAD,
    auth: options.clusterSecret === undefined ? undefined : frameAuth(options.clusterSecret),
  }
  if (!(config.inboundCapacity >= 1 && config.inboundMaxBytes >= 1 && config.maxPayload > 2048))
    throw new RangeError("inboundCapacity and inboundMaxBytes must be positive, maxPayload above 2 KiB")
  return config
}

/**
 * The transport over an existing `NatsConnection` (share one connection with the `Bus`).
 * Subscribes to this node's raft and snap subjects before the layer is ready; frames are
 * decoded in the client's callback. While the connection is down, frames are dropped and
 * counted as `unsent.disconnected` instead of piling up in the client's buffer.
 */
export const layerNatsConnection = (
  options: TransportOptions,
): Layer.Layer<Transport, never, NatsConnection> =>
  Layer.scoped(
    Transport,
    Effect.gen(function* () {
      const config = resolve(options)
      const conn = yield* NatsConnection
      const nc = conn.connection
      const publish = (
        subject: string,
        _kind: "raft" | "snap",
        _to: NodeId,
        payload: Uint8Array,
      ): PublishOutcome => {
        if (nc.isClosed() || nc.isDraining()) return "closed"
        if (!conn.isConnected()) return "disconnected"
        try {
          nc.publish(subject, payload)
          return "sent"
        } catch {
          return nc.isClosed() || nc.isDraining() ? "closed" : "disconnected"
        }
      }
      const core = yield* makeTransportCore(config, { publish, maxPayload: conn.maxPayload })
      for (const subject of [core.subjects.raft(config.nodeId), core.subjects.snap(config.nodeId)]) {
        yield* Effect.acquireRelease(
          Effect.sync(() =>
            nc.subscribe(subject, {
              callback: (err, msg) => {
                if (err === null) core.receive(msg.data, msg.subject)
                else {
                  // nats.js closes a subscription after an error: nothing arrives on it again.
                  core.warn(`transport: subscription to ${subject} failed: ${err.message}`)
                  core.receiveDied(`subscription to ${subject} failed: ${err.message}`)
                }
              },
            }),
          ),
          (sub) => Effect.sync(() => sub.unsubscribe()),
        )
      }
      // A connection closed for good (not by this layer's scope, which interrupts the watch
      // first) receives nothing again.
      yield* Effect.forkScoped(
        Effect.promise(() => nc.closed()).pipe(
          Effect.flatMap((err) =>
            Effect.sync(() => core.receiveDied(`the NATS connection closed${err ? `: ${err.message}` : ""}`)),
          ),
        ),
      )
      yield* Effect.promise(() => nc.flush()).pipe(Effect.timeout("5 seconds"), Effect.ignore)
      return core.service
    }),
  )

/** Options of `layerNats`: the transport's and the connection's. */
export interface NatsTransportOptions extends TransportOptions, NatsConnectionOptions {}

/** The transport over its own NATS connection (client name `flotilla.<cluster>.node<id>` unless given). */
export const layerNats = (options: NatsTransportOptions): Layer.Layer<Transport, NatsConnectionError> =>
  Layer.provide(
    layerNatsConnection(options),
    NatsConnectionModule.layer({
      ...options,
      name: options.name ?? `flotilla.${options.cluster}.node${options.nodeId}`,
    }),
  )

/** Options of `layerMemory`. */
export type MemoryTransportOptions = Omit<TransportOptions, "cluster" | "nodeId">

/**
 * The transport of node `nodeId` over an in-process `MemoryNetwork` (frames are encoded and
 * decoded exactly as over NATS; the network's faults and cuts apply to every publish).
 * DIES if the node is attached to the network already.
 */
export const layerMemory = (
  network: MemoryNetwork,
  nodeId: NodeId,
  options: MemoryTransportOptions = {},
): Layer.Layer<Transport> =>
  Layer.scoped(
    Transport,
    Effect.gen(function* () {
      const config = resolve({ ...options, cluster: network.cluster, nodeId })
      const core = yield* makeTransportCore(config, {
        publish: (_subject, kind, to, payload) =>
          network.unsafePublish(nodeId, to, kind, payload) ? "sent" : "closed",
        maxPayload: () => network.maxPayload,
      })
      const raft = core.subjects.raft(nodeId)
      const snap = core.subjects.snap(nodeId)
      yield* network.attach(nodeId, (kind, payload) => core.receive(payload, kind === "raft" ? raft : snap))
      return core.service
    }),
  )
