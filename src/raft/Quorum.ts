/**
 * Quorum arithmetic: the committed index and the outcome of an election under a majority
 * configuration and under a joint (two-majority) configuration. Property tests check these
 * against naive implementations (test/raft/quorum.test.ts).
 */
import type { Index, ReplicaId } from "./Types.js"

export const VoteResult = {
  /** Neither won nor lost yet: some votes are missing. */
  Pending: 0,
  Lost: 1,
  Won: 2,
} as const
export type VoteResult = (typeof VoteResult)[keyof typeof VoteResult]

/** A function from a voter to the index it has acknowledged (undefined = nothing yet). */
export type AckedIndexer = (id: ReplicaId) => Index | undefined

const scratch: number[] = []

/**
 * The largest index acknowledged by a majority of `voters`. An empty configuration returns
 * `Infinity` so that a joint configuration with an empty half is decided by the other half.
 */
export const majorityCommittedIndex = (voters: readonly ReplicaId[], acked: AckedIndexer): Index => {
  const n = voters.length
  if (n === 0) return Number.POSITIVE_INFINITY
  if (n === 1) return acked(voters[0]!) ?? 0
  scratch.length = n
  for (let i = 0; i < n; i++) scratch[i] = acked(voters[i]!) ?? 0
  // Insertion sort, ascending: n is the group size (3, 5, 7), so this beats Array.sort.
  for (let i = 1; i < n; i++) {
    const v = scratch[i]!
    let j = i - 1
    while (j >= 0 && scratch[j]! > v) {
      scratch[j + 1] = scratch[j]!
      j--
    }
    scratch[j + 1] = v
  }
  // The (n/2+1)-th largest: every index at or below it is held by a majority.
  return scratch[n - (Math.floor(n / 2) + 1)]!
}

/** The outcome of an election in a majority configuration; an empty one is won. */
export const majorityVoteResult = (
  voters: readonly ReplicaId[],
  votes: ReadonlyMap<ReplicaId, boolean>,
): VoteResult => {
  if (voters.length === 0) return VoteResult.Won
  let yes = 0
  let missing = 0
  for (const id of voters) {
    const v = votes.get(id)
    if (v === undefined) missing++
    else if (v) yes++
  }
  const q = Math.floor(voters.length / 2) + 1
  if (yes >= q) return VoteResult.Won
  if (yes + missing >= q) return VoteResult.Pending
  return VoteResult.Lost
}

/** A joint configuration: decisions need a majority of `incoming` and of `outgoing`. */
export interface JointConfig {
  readonly incoming: readonly ReplicaId[]
  readonly outgoing: readonly ReplicaId[]
}

export const jointCommittedIndex = (c: JointConfig, acked: AckedIndexer): Index => {
  const a = majorityCommittedIndex(c.incoming, acked)
  const b = majorityCommittedIndex(c.outgoing, acked)
  return Math.min(a, b)
}

export const jointVoteResult = (c: JointConfig, votes: ReadonlyMap<ReplicaId, boolean>): VoteResult => {
  const a = majorityVoteResult(c.incoming, votes)
  const b = majorityVoteResult(c.outgoing, votes)
  if (a === b) return a
  if (a === VoteResult.Lost || b === VoteResult.Lost) return VoteResult.Lost
  return VoteResult.Pending
}

/** Every voter of a joint configuration, each once, in ascending order. */
export const jointVoterIds = (c: JointConfig): ReplicaId[] => {
  const ids = new Set<ReplicaId>(c.incoming)
  for (const id of c.outgoing) ids.add(id)
  return [...ids].sort((x, y) => x - y)
}
