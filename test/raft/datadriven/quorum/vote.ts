/**
 * `vote voters=(...) [outgoing=(...)] votes=(1:y,2:n,3:_)`: the outcome of an election in which
 * each voter answered as `votes` says (`y` granted, `n` rejected, `_` or absent: no answer yet).
 * Prints each half's voters, their answers in the order listed and the half's outcome, then the
 * election's: `won`, `lost` or `pending`. Every case is also decided by the naive definition
 * (support/NaiveQuorum.ts); a disagreement is an error.
 */
import { jointVoteResult, majorityVoteResult, VoteResult } from "../../../../src/raft/Quorum.js"
import type { ReplicaId } from "../../../../src/raft/Types.js"
import type { Command } from "../../support/datadriven.js"
import { naiveJointVote, naiveVote } from "../../support/NaiveQuorum.js"
import { configOf, halfLine, perReplica } from "./Args.js"

const NAMES: Record<VoteResult, string> = {
  [VoteResult.Won]: "won",
  [VoteResult.Lost]: "lost",
  [VoteResult.Pending]: "pending",
}

const votesOf = (cmd: Command): Map<ReplicaId, boolean> => {
  const votes = new Map<ReplicaId, boolean>()
  for (const [id, v] of perReplica(cmd.kv.get("votes"))) {
    if (v === "y" || v === "n") votes.set(id, v === "y")
    else if (v !== "_") throw new Error(`bad vote ${id}:${v}: write y, n or _`)
  }
  return votes
}

export const vote = (cmd: Command): string => {
  const { config, joint } = configOf(cmd)
  const votes = votesOf(cmd)
  const shown = (id: ReplicaId) => {
    const v = votes.get(id)
    return v === undefined ? "_" : v ? "y" : "n"
  }
  const incoming = majorityVoteResult(config.incoming, votes)
  const outgoing = majorityVoteResult(config.outgoing, votes)
  const result = joint ? jointVoteResult(config, votes) : incoming
  const naive = naiveJointVote(naiveVote(config.incoming, votes), naiveVote(config.outgoing, votes))
  if (result !== naive)
    throw new Error(`Quorum.ts says ${NAMES[result]}, the naive definition ${NAMES[naive]}`)
  const lines = [halfLine("incoming", config.incoming, shown, NAMES[incoming])]
  if (joint) lines.push(halfLine("outgoing", config.outgoing, shown, NAMES[outgoing]))
  lines.push(NAMES[result])
  return lines.join("\n")
}
