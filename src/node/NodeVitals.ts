/**
 * A node's vitals: its health and readiness (NodeHealth.ts), its HTTP address, the process's
 * CPU and memory, and the cumulative counters the dashboard turns into throughput and latency.
 * The admin `summary` carries them (so `flotilla status` and every node's dashboard see every
 * node's), and so does the dashboard's own node.
 */
import { Clock, Effect } from "effect"
import type { NodeService } from "../runtime/Node.js"
import * as NodeHealth from "./NodeHealth.js"
import type { NodeObservationsService } from "./NodeObservations.js"
import type { NodeShardMapService } from "./NodeShardMap.js"

/** A latency histogram as cumulative totals (the reader takes differences between two reads). */
export interface HistogramTotals {
  readonly count: number
  readonly sum: number
  /** Bucket upper bounds (seconds) and the observations in each (not cumulative; last: +Inf). */
  readonly bounds: ReadonlyArray<number>
  readonly counts: ReadonlyArray<number>
}

export interface Vitals {
  readonly health: NodeHealth.Verdict
  readonly ready: NodeHealth.Verdict
  readonly http: string | null
  /** User + system CPU seconds of the process since it started. */
  readonly cpuSeconds: number
  readonly rssBytes: number
  readonly heapUsedBytes: number
  /** Clock time of the reading (ms). */
  readonly at: number
  readonly proposalsAccepted: number
  readonly gatewayRequests: number
  readonly proposalSeconds: HistogramTotals
}

/** The vitals of the node now. */
export const vitals = (
  node: NodeService,
  observations: NodeObservationsService,
  map: NodeShardMapService,
  limits?: NodeHealth.HealthLimits,
): Effect.Effect<Vitals> =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const cpu = process.cpuUsage()
    const mem = process.memoryUsage()
    let gatewayRequests = 0
    for (const h of observations.gateway.byKey.values()) gatewayRequests += h.histogram.count
    const p = node.metrics.proposalSeconds
    return {
      health: NodeHealth.health(node, now, observations.nats.downSince, limits),
      ready: yield* NodeHealth.readiness(node, observations, map, now, limits),
      http: observations.http ?? null,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      at: now,
      proposalsAccepted: node.metrics.proposalsAccepted,
      gatewayRequests,
      proposalSeconds: { count: p.count, sum: p.sum, bounds: p.buckets, counts: [...p.counts] },
    }
  })
