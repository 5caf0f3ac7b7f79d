/**
 * The leader's view of the group: the active configuration (possibly joint), one `Progress`
 * per member, and the votes of the current election. The configuration lives here and is
 * changed only by `Changer` (ConfChangeApply.ts).
 */
import { Inflights } from "./Inflights.js"
import { Progress } from "./Progress.js"
import {
  jointCommittedIndex,
  jointVoteResult,
  jointVoterIds,
  majorityCommittedIndex,
  type VoteResult,
} from "./Quorum.js"
import type { ConfState, Index, ReplicaId } from "./Types.js"

/** A group configuration. `outgoing` is non-empty only in a joint configuration. */
export interface TrackerConfig {
  readonly incoming: readonly ReplicaId[]
  readonly outgoing: readonly ReplicaId[]
  readonly learners: readonly ReplicaId[]
  /** Outgoing voters that become learners when the joint configuration is left. */
  readonly learnersNext: readonly ReplicaId[]
  readonly autoLeave: boolean
}

export const emptyTrackerConfig: TrackerConfig = {
  incoming: [],
  outgoing: [],
  learners: [],
  learnersNext: [],
  autoLeave: false,
}

export const isJoint = (c: TrackerConfig): boolean => c.outgoing.length > 0

const sorted = (ids: Iterable<ReplicaId>): ReplicaId[] => [...ids].sort((a, b) => a - b)

export const configToConfState = (c: TrackerConfig): ConfState => ({
  voters: sorted(c.incoming),
  votersOutgoing: sorted(c.outgoing),
  learners: sorted(c.learners),
  learnersNext: sorted(c.learnersNext),
  autoLeave: c.autoLeave,
})

export const describeConfig = (c: TrackerConfig): string => {
  let s = `voters=(${sorted(c.incoming).join(" ")})`
  if (c.outgoing.length > 0) s += `&&(${sorted(c.outgoing).join(" ")})`
  if (c.learners.length > 0) s += ` learners=(${sorted(c.learners).join(" ")})`
  if (c.learnersNext.length > 0) s += ` learners_next=(${sorted(c.learnersNext).join(" ")})`
  if (c.autoLeave) s += " autoleave"
  return s
}

export class ProgressTracker {
  config: TrackerConfig = emptyTrackerConfig
  /** Every voter (incoming or outgoing) and learner has an entry; nothing else does. */
  progress = new Map<ReplicaId, Progress>()
  votes = new Map<ReplicaId, boolean>()
  private voterIdsCache: readonly ReplicaId[] | undefined
  private memberIdsCache: readonly ReplicaId[] | undefined

  constructor(
    readonly maxInflight: number,
    readonly maxInflightBytes: number,
  ) {}

  newProgress(next: Index, isLearner: boolean): Progress {
    return new Progress(next, new Inflights(this.maxInflight, this.maxInflightBytes), isLearner)
  }

  /** Adopts a configuration (from `Changer` or a snapshot) and its progress map. */
  setConfig(config: TrackerConfig, progress: Map<ReplicaId, Progress>): void {
    this.config = config
    this.progress = progress
    for (const [id, pr] of progress) pr.isLearner = config.learners.includes(id)
    this.voterIdsCache = undefined
    this.memberIdsCache = undefined
  }

  confState(): ConfState {
    return configToConfState(this.config)
  }

  isSingleton(): boolean {
    return this.config.incoming.length === 1 && this.config.outgoing.length === 0
  }

  /** Every voter of the (possibly joint) configuration, ascending. */
  voterIds(): readonly ReplicaId[] {
    if (this.voterIdsCache === undefined) this.voterIdsCache = jointVoterIds(this.config)
    return this.voterIdsCache
  }

  isVoter(id: ReplicaId): boolean {
    return this.config.incoming.includes(id) || this.config.outgoing.includes(id)
  }

  /** The largest index acknowledged (durably) by a quorum of voters. */
  committed(): Index {
    const progress = this.progress
    return jointCommittedIndex(this.config, (id) => progress.get(id)?.match)
  }

  /** Whether a quorum of voters has been heard from since the last reset of `recentActive`. */
  quorumActive(): boolean {
    const votes = new Map<ReplicaId, boolean>()
    for (const [id, pr] of this.progress) if (!pr.isLearner) votes.set(id, pr.recentActive)
    return jointVoteResult(this.config, votes) === 2
  }

  /**
   * The latest leader tick at which a quorum of voters had been heard from (lease reads).
   * `selfId` counts as heard at `now`.
   */
  quorumHeardTick(selfId: ReplicaId, now: number): number {
    const progress = this.progress
    const heard = (id: ReplicaId) =>
      id === selfId ? now : (progress.get(id)?.lastHeardTick ?? Number.NEGATIVE_INFINITY)
    const a = majorityCommittedIndex(this.config.incoming, heard)
    const b = majorityCommittedIndex(this.config.outgoing, heard)
    return Math.min(a, b)
  }

  resetVotes(): void {
    this.votes.clear()
  }

  recordVote(id: ReplicaId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted)
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0
    let rejected = 0
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue
      const v = this.votes.get(id)
      if (v === undefined) continue
      if (v) granted++
      else rejected++
    }
    return { granted, rejected, result: jointVoteResult(this.config, this.votes) }
  }

  /** Member ids (voters and learners) in ascending order: a deterministic visiting order. */
  memberIds(): readonly ReplicaId[] {
    if (this.memberIdsCache === undefined) this.memberIdsCache = sorted(this.progress.keys())
    return this.memberIdsCache
  }
}
