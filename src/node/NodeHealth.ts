/**
 * `/health` and `/ready` of a node (docs/observability.md).
 *
 * Health: the node's loops are alive and making progress. The engine loop goes round at least
 * once per tick (the beat wakes it), so a loop that has not gone round for `stuckMs` is stuck,
 * and one that ended while the node was not stopping is dead; a store write under way for
 * `stuckMs` is a stuck store; a NATS connection down for `stuckMs` is a lost transport.
 *
 * Readiness: the node has registered with the metadata group, its last heartbeat was answered
 * recently, it has reconciled its replicas with the shard map and hosts every replica the map
 * gives it, and each hosted replica knows its leader and has applied what it knows committed
 * (within `APPLY_SLACK` entries).
 */
import { Effect } from "effect"
import { nodeOfReplica } from "../raft/Ids.js"
import type { NodeService } from "../runtime/Node.js"
import type { NodeObservationsService } from "./NodeObservations.js"
import type { NodeShardMapService } from "./NodeShardMap.js"

/** A verdict: `ok`, or the reasons it is not (each a short sentence). */
export interface Verdict {
  readonly ok: boolean
  readonly reasons: ReadonlyArray<string>
}

/** When a node counts as stuck or as no longer reaching the metadata group. */
export interface HealthLimits {
  /** No engine round, a store write or a NATS outage for this long: unhealthy (default 10 s). */
  readonly stuckMs?: number
  /** No heartbeat answered for this long: not ready (default 10 s). */
  readonly metaSilenceMs?: number
}

export const DEFAULT_STUCK_MS = 10_000
/**
 * Committed entries a replica may have left to apply and still count as caught up: under load
 * every follower is a round or two behind its commit, which is not "catching up".
 */
export const APPLY_SLACK = 1_000
export const DEFAULT_META_SILENCE_MS = 10_000

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

const verdict = (reasons: string[]): Verdict => ({ ok: reasons.length === 0, reasons })

/** The health of the node at clock time `now`; `natsDownSince` when its connection is down. */
export const health = (
  node: NodeService,
  now: number,
  natsDownSince: number | undefined,
  limits: HealthLimits = {},
): Verdict => {
  const stuckMs = limits.stuckMs ?? DEFAULT_STUCK_MS
  const m = node.metrics
  const reasons: string[] = []
  if (m.loopDied !== undefined) reasons.push(`engine loop died: ${m.loopDied}`)
  else if (m.loopAt === 0) reasons.push("engine loop has not started")
  else if (now - m.loopAt > stuckMs)
    reasons.push(`engine loop stuck: no round for ${seconds(now - m.loopAt)}`)
  const oldest = m.oldestWrite()
  if (oldest !== undefined && now - oldest > stuckMs)
    reasons.push(`store stuck: a write under way for ${seconds(now - oldest)}`)
  if (natsDownSince !== undefined && now - natsDownSince > stuckMs)
    reasons.push(`transport down: NATS disconnected for ${seconds(now - natsDownSince)}`)
  return verdict(reasons)
}

/** The readiness of the node at clock time `now`. */
export const readiness = (
  node: NodeService,
  observations: NodeObservationsService,
  map: NodeShardMapService,
  now: number,
  limits: HealthLimits = {},
): Effect.Effect<Verdict> =>
  Effect.gen(function* () {
    const silenceMs = limits.metaSilenceMs ?? DEFAULT_META_SILENCE_MS
    const meta = observations.meta
    if (meta.registeredAt === 0) return verdict(["not registered with the metadata group yet"])
    const reasons: string[] = []
    if (meta.lastHeartbeatAt === 0 || now - meta.lastHeartbeatAt > silenceMs)
      reasons.push(
        `metadata group unreachable: no heartbeat answered ${meta.lastHeartbeatAt === 0 ? "yet" : `for ${seconds(now - meta.lastHeartbeatAt)}`}${meta.lastHeartbeatError ? ` (last: ${meta.lastHeartbeatError})` : ""}`,
      )
    const current = map.current()
    if (current === undefined || meta.reconciledAt === 0) {
      reasons.push("local replicas not reconciled with the shard map yet")
      return verdict(reasons)
    }
    const hosted = new Set<number>()
    const behind = new Sample()
    yield* node.forEachReplica((r) => {
      hosted.add(r.groupId)
      if (!r.stopped && !(r.leaderKnown && r.commit - r.applied <= APPLY_SLACK)) behind.add(r.groupId)
    })
    const missing = new Sample()
    for (const g of current.groups) {
      const mine = g.replicas.some((r) => r.role !== "joining" && nodeOfReplica(r.id) === node.nodeId)
      if (mine && !hosted.has(g.id)) missing.add(g.id)
    }
    if (missing.count > 0) reasons.push(`${missing.describe()} of the shard map not loaded`)
    if (behind.count > 0) reasons.push(`${behind.describe()} without a leader or not caught up`)
    return verdict(reasons)
  })

/** Counts groups and keeps the first few ids to name. */
class Sample {
  count = 0
  readonly first: number[] = []
  add(group: number): void {
    this.count++
    if (this.first.length < 5) this.first.push(group)
  }
  describe(): string {
    return `${this.count} replica(s) (group${this.first.length > 1 ? "s" : ""} ${this.first.join(", ")}${this.count > this.first.length ? ", ..." : ""})`
  }
}
