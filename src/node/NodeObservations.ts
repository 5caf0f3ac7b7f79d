/**
 * What a node's services note for its metrics, `/health`, `/ready` and dashboard besides the
 * runtime's own counters (src/runtime/RuntimeMetrics.ts): KV gateway latency by operation and
 * outcome, placement operators started and ended on this node as metadata leader, the metadata
 * agent's registration and last answered heartbeat, the transport's last arrival, the NATS
 * connection's reconnects, and the node's HTTP address. One per node, shared by its services;
 * each service finds it with `Effect.serviceOption` and notes nothing without it.
 */
import { Clock, Context, Effect, Layer, Option } from "effect"
import { Histogram, LATENCY_BUCKETS } from "../runtime/Prometheus.js"

/** A latency histogram per label pair, created on first use (the label values are few and fixed). */
export class LatencyByLabels {
  readonly byKey = new Map<
    string,
    { readonly labels: Record<string, string>; readonly histogram: Histogram }
  >()

  constructor(private readonly names: readonly [string, string]) {}

  observe(a: string, b: string, seconds: number): void {
    const key = `${a}\u0000${b}`
    let h = this.byKey.get(key)
    if (h === undefined) {
      h = { labels: { [this.names[0]]: a, [this.names[1]]: b }, histogram: new Histogram(LATENCY_BUCKETS) }
      this.byKey.set(key, h)
    }
    h.histogram.observe(seconds)
  }
}

export interface NodeObservationsService {
  /** KV gateway requests: by `op` and `outcome` (ok, or the error's tag). */
  readonly gateway: LatencyByLabels
  /** Placement operators this node started, finished, rolled back or timed out as metadata leader. */
  readonly placement: { started: number; finished: number; failed: number }
  readonly meta: {
    /** The metadata group accepted this node's registration (clock ms; 0: not yet). */
    registeredAt: number
    /** The last heartbeat the metadata leader answered (clock ms; 0: none yet). */
    lastHeartbeatAt: number
    /** Why the last heartbeat went unanswered, while it did. */
    lastHeartbeatError: string | undefined
    /** The last reconciliation of local replicas with the shard map ended (clock ms; 0: none yet). */
    reconciledAt: number
  }
  readonly nats: {
    reconnects: number
    /** Since when the NATS connection is down (clock ms), while it is. */
    downSince: number | undefined
  }
  /** The node's HTTP address (`http://host:port`), once it listens. */
  http: string | undefined
  /** Client sessions the node's KV gateway holds now (set by the gateway when it runs). */
  gatewaySessions: () => number
}

export class NodeObservations extends Context.Tag("flotilla/node/NodeObservations")<
  NodeObservations,
  NodeObservationsService
>() {}

export const make = (): NodeObservationsService => ({
  gateway: new LatencyByLabels(["op", "outcome"]),
  placement: { started: 0, finished: 0, failed: 0 },
  meta: { registeredAt: 0, lastHeartbeatAt: 0, lastHeartbeatError: undefined, reconciledAt: 0 },
  nats: { reconnects: 0, downSince: undefined },
  http: undefined,
  gatewaySessions: () => 0,
})

export const layer: Layer.Layer<NodeObservations> = Layer.sync(NodeObservations, make)

/** Runs `f` on the node's observations when there are any. */
export const note = (f: (o: NodeObservationsService) => void): Effect.Effect<void> =>
  Effect.map(Effect.serviceOption(NodeObservations), (o) => {
    if (Option.isSome(o)) f(o.value)
  })

/** Runs `f` on the node's observations with the clock's time (ms) when there are any. */
export const noteAt = (f: (o: NodeObservationsService, nowMs: number) => void): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => note((o) => f(o, now)))
