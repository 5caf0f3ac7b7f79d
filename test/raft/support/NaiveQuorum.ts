/**
 * Quorum rules restated the slow, obvious way, to check src/raft/Quorum.ts against (property
 * tests in quorum.test.ts, every datadriven quorum case in datadriven/quorum).
 */
import { VoteResult } from "../../../src/raft/Quorum.js"
import type { ReplicaId } from "../../../src/raft/Types.js"

/** The largest index a majority of `voters` has acknowledged (empty: no constraint, `Infinity`). */
export const naiveCommitted = (
  voters: readonly ReplicaId[],
  acked: (id: ReplicaId) => number | undefined,
): number => {
  if (voters.length === 0) return Number.POSITIVE_INFINITY
  const q = Math.floor(voters.length / 2) + 1
  let best = 0
  for (const candidate of voters.map((v) => acked(v) ?? 0))
    if (candidate > best && voters.filter((v) => (acked(v) ?? 0) >= candidate).length >= q) best = candidate
  return best
}

/** Won with a majority of yes, lost once a majority is out of reach, pending otherwise (empty: won). */
export const naiveVote = (
  voters: readonly ReplicaId[],
  votes: ReadonlyMap<ReplicaId, boolean>,
): VoteResult => {
  if (voters.length === 0) return VoteResult.Won
  const q = Math.floor(voters.length / 2) + 1
  const yes = voters.filter((v) => votes.get(v) === true).length
  const no = voters.filter((v) => votes.get(v) === false).length
  if (yes >= q) return VoteResult.Won
  if (voters.length - no < q) return VoteResult.Lost
  return VoteResult.Pending
}

/** A joint election: lost if either half lost, won if both won. */
export const naiveJointVote = (a: VoteResult, b: VoteResult): VoteResult => {
  if (a === VoteResult.Lost || b === VoteResult.Lost) return VoteResult.Lost
  if (a === VoteResult.Won && b === VoteResult.Won) return VoteResult.Won
  return VoteResult.Pending
}
