/**
 * `RawNode.forgetLeader` (docs/decisions/0079): a follower told from outside Raft that its
 * leader is down stops honouring the leader's lease, so a pre-vote (with check-quorum) is
 * granted at once instead of after an election timeout; in other roles it does nothing.
 */
import { describe, expect, it } from "vitest"
import { type Message, MessageType, StateType } from "../../src/raft/Types.js"
import { Cluster } from "./support/Cluster.js"

const NO_LEADER = 0

/** Replicas 1..3 with pre-vote and check-quorum, 1 leading; then 1 goes silent (dropped). */
const withDeadLeader = () => {
  const c = new Cluster({ preVote: true, checkQuorum: true })
  c.bootstrap([1, 2, 3])
  c.elect(1)
  c.nodes.delete(1 as never)
  c.inbox.delete(1 as never)
  return c
}

/** 2 campaigns; the pre-vote it sends to 3 is delivered; 3's answer to it, if any. */
const preVoteFrom2 = (c: Cluster): Message | undefined => {
  c.node(2).raw.campaign()
  c.processReady(2)
  c.inbox.delete(1 as never)
  c.deliver(3, (m) => m.type === MessageType.PreVote)
  c.processReady(3)
  return (c.inbox.get(2 as never) ?? []).find((m) => m.type === MessageType.PreVoteResp)
}

describe("forgetLeader", () => {
  it("without it, a follower in the leader's lease ignores a pre-vote", () => {
    const c = withDeadLeader()
    expect(preVoteFrom2(c)).toBeUndefined()
  })

  it("a follower that forgot its leader grants the pre-vote at once, and the election completes", () => {
    const c = withDeadLeader()
    c.node(3).raw.forgetLeader()
    expect(c.node(3).raw.leader).toBe(NO_LEADER)
    const answer = preVoteFrom2(c)
    expect(answer).toMatchObject({ type: MessageType.PreVoteResp, reject: false })
    c.stabilize()
    expect(c.node(2).raw.isLeader).toBe(true)
    expect(c.node(3).raw.leader).toBe(2)
  })

  it("does nothing on a leader or a candidate", () => {
    const c = new Cluster({ preVote: true, checkQuorum: true })
    c.bootstrap([1, 2, 3])
    c.elect(1)
    c.node(1).raw.forgetLeader()
    expect(c.node(1).raw.isLeader).toBe(true)
    expect(c.node(1).raw.leader).toBe(1)
    c.node(2).raw.campaign()
    const before = c.node(2).raw.status().softState
    expect(before.raftState).toBe(StateType.PreCandidate)
    c.node(2).raw.forgetLeader()
    expect(c.node(2).raw.status().softState).toEqual(before)
  })
})
