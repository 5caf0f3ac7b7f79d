/**
 * What the runtime measures besides the engine's counters (Engine.ts `EngineStats`): latency and
 * batch-size histograms, proposal and election counts, and the progress marks `/health` reads
 * (src/node/NodeHealth.ts). Everything is a plain field bumped where the work already happens,
 * once per proposal, round or write: nothing here allocates on the hot path.
 */
import { Histogram, LATENCY_BUCKETS, SIZE_BUCKETS } from "./Prometheus.js"

export class RuntimeMetrics {
  /** Proposal accepted by the leader's core → its entry applied and the caller answered (seconds). */
  readonly proposalSeconds = new Histogram(LATENCY_BUCKETS)
  /** Proposal accepted by the leader's core → the round that learnt its entry committed (seconds). */
  readonly proposalToCommitSeconds = new Histogram(LATENCY_BUCKETS)
  /** Round collected with committed entries → those entries applied (seconds). */
  readonly commitToApplySeconds = new Histogram(LATENCY_BUCKETS)
  /** One `LogStore.write` of a round (seconds). */
  readonly writeSeconds = new Histogram(LATENCY_BUCKETS)
  /** Groups updated by one write. */
  readonly writeBatchGroups = new Histogram(SIZE_BUCKETS)

  proposalsAccepted = 0
  /** Proposals the core refused (no leader, not leader, transfer under way, too large). */
  proposalsDropped = 0
  /** Accepted proposals that did not apply (slot lost, replaced by a snapshot, group stopped). */
  proposalsFailed = 0
  /** Requests refused because a replica's mailbox was full. */
  overloaded = 0
  electionsStarted = 0
  electionsWon = 0
  /** Times a hosted replica saw a new term. */
  termChanges = 0
  /** Times a hosted replica saw its group's leader change (to another one or to none). */
  leaderChanges = 0
  snapshotsSent = 0
  snapshotBytesSent = 0
  snapshotsReceived = 0
  snapshotBytesReceived = 0
  snapshotBytesInstalled = 0
  /** Entry and snapshot payload bytes written to the store. */
  bytesWritten = 0
  writes = 0
  fsyncs = 0
  writeFailures = 0

  /** When the loop last went round (clock ms; 0: not yet started). */
  loopAt = 0
  /** Why the loop ended, when it ended while the node was not stopping. */
  loopDied: string | undefined = undefined
  /** Start times (clock ms) of the store writes under way. */
  readonly writesInFlight: number[] = []
  /** When the last store write finished (clock ms; 0: none yet). */
  lastWriteAt = 0

  /** Start time of the oldest write under way, if any. */
  oldestWrite(): number | undefined {
    let oldest: number | undefined
    for (const t of this.writesInFlight) if (oldest === undefined || t < oldest) oldest = t
    return oldest
  }

  /** A store write started at `startedAt` ended at `now`. */
  writeEnded(startedAt: number, now: number, ok: boolean): void {
    const i = this.writesInFlight.indexOf(startedAt)
    if (i >= 0) this.writesInFlight.splice(i, 1)
    this.lastWriteAt = now
    this.writeSeconds.observe((now - startedAt) / 1000)
    if (!ok) this.writeFailures++
  }
}
