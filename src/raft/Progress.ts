/**
 * What a leader knows of one follower's log, and how it replicates to it:
 *
 * - Probe: the leader does not know where the logs match. It sends one MsgApp and waits
 *   (`msgAppFlowPaused`) for the answer or the next heartbeat response.
 * - Replicate: the logs match up to `match`; the leader streams entries optimistically
 *   (`next` runs ahead) within the bounded `inflights` window.
 * - Snapshot: the follower needs entries the leader has compacted away; the leader sends its
 *   snapshot in chunks (`snapshotTransfer`) and resumes probing once it is installed.
 */
import type { Inflights } from "./Inflights.js"
import type { Index, Snapshot } from "./Types.js"

export const ProgressState = {
  Probe: 0,
  Replicate: 1,
  Snapshot: 2,
} as const
export type ProgressState = (typeof ProgressState)[keyof typeof ProgressState]
export const progressStateName = (s: ProgressState): string =>
  ["StateProbe", "StateReplicate", "StateSnapshot"][s]!

/** A snapshot being streamed to a follower, chunk by chunk. */
export interface SnapshotTransfer {
  readonly snapshot: Snapshot
  /** Bytes sent so far (the next chunk starts here). */
  sentOffset: number
  /** Bytes the follower has acknowledged holding. */
  ackedOffset: number
  /** Every chunk up to the end has been sent (an empty snapshot still travels as one chunk). */
  sentAll: boolean
  /** Heartbeat responses seen since the last acknowledgement; two in a row rewind to `ackedOffset`. */
  stalledBeats: number
}

export class Progress {
  match: Index = 0
  next: Index
  state: ProgressState = ProgressState.Probe
  /** In Snapshot state: the index of the snapshot being sent. */
  pendingSnapshot: Index = 0
  snapshotTransfer: SnapshotTransfer | undefined = undefined
  /** Heard from since the last check-quorum round. */
  recentActive = false
  /** Leader tick of the last message from this follower (lease reads). */
  lastHeardTick = Number.NEGATIVE_INFINITY
  /** The commit index last sent to this follower (an empty MsgApp carries a newer one). */
  sentCommit: Index = 0
  /** In Probe state: a MsgApp is out, wait before sending another. */
  msgAppFlowPaused = false
  readonly inflights: Inflights
  isLearner: boolean

  constructor(next: Index, inflights: Inflights, isLearner: boolean) {
    this.next = next
    this.inflights = inflights
    this.isLearner = isLearner
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false
    this.pendingSnapshot = 0
    this.snapshotTransfer = undefined
    this.state = state
    this.inflights.reset()
  }

  becomeProbe(): void {
    // Coming back from a snapshot, the follower holds at least the snapshot's entries.
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot
      this.resetState(ProgressState.Probe)
      this.next = Math.max(this.match + 1, pending + 1)
    } else {
      this.resetState(ProgressState.Probe)
      this.next = this.match + 1
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate)
    this.next = this.match + 1
  }

  becomeSnapshot(snapshot: Snapshot): void {
    this.resetState(ProgressState.Snapshot)
    this.pendingSnapshot = snapshot.metadata.index
    this.snapshotTransfer = { snapshot, sentOffset: 0, ackedOffset: 0, sentAll: false, stalledBeats: 0 }
  }

  /** Records a MsgApp carrying `count` entries up to `lastIndex` (`bytes` of payload). */
  sentEntries(count: number, lastIndex: Index, bytes: number): void {
    if (this.state === ProgressState.Replicate) {
      if (count > 0) {
        this.next = lastIndex + 1
        this.inflights.add(lastIndex, bytes)
      }
    } else if (this.state === ProgressState.Probe) {
      this.msgAppFlowPaused = true
    }
  }

  /** An acknowledgement up to `n`; false when it tells nothing new (stale or duplicate). */
  maybeUpdate(n: Index): boolean {
    let updated = false
    if (this.match < n) {
      this.match = n
      updated = true
      this.msgAppFlowPaused = false
    }
    if (this.next < n + 1) this.next = n + 1
    return updated
  }

  /**
   * A rejection of the MsgApp whose previous index was `rejected`, with the follower's hint
   * `matchHint` of where the logs may match. Returns false when the rejection is stale.
   */
  maybeDecrTo(rejected: Index, matchHint: Index): boolean {
    if (this.state === ProgressState.Replicate) {
      // Stale unless it rejects the entry right after the known match.
      if (rejected <= this.match) return false
      this.next = this.match + 1
      return true
    }
    // Probe: only the rejection of the last probe counts.
    if (this.next - 1 !== rejected) return false
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1)
    this.msgAppFlowPaused = false
    return true
  }

  /** Whether the leader must hold MsgApp back from this follower. */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.msgAppFlowPaused
      case ProgressState.Replicate:
        return this.inflights.full()
      default:
        return true
    }
  }

  describe(): string {
    let s = `${progressStateName(this.state)} match=${this.match} next=${this.next}`
    if (this.isLearner) s += " learner"
    if (this.isPaused()) s += " paused"
    if (this.state === ProgressState.Snapshot) s += ` pendingSnap=${this.pendingSnapshot}`
    if (!this.recentActive) s += " inactive"
    const n = this.inflights.count()
    if (n > 0) s += ` inflight=${n}${this.inflights.full() ? "[full]" : ""}`
    return s
  }
}
