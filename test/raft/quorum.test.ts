/**
 * Quorum arithmetic against naive implementations, for majority and joint configurations,
 * property-based; plus the tracker's use of it (commit by `match`, check-quorum, lease ticks).
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  jointCommittedIndex,
  jointVoteResult,
  jointVoterIds,
  majorityCommittedIndex,
  majorityVoteResult,
  VoteResult,
} from "../../src/raft/Quorum.js"
import { ProgressTracker } from "../../src/raft/Tracker.js"
import type { ReplicaId } from "../../src/raft/Types.js"
import { naiveCommitted, naiveJointVote, naiveVote } from "./support/NaiveQuorum.js"

const ids = fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { maxLength: 7 }) as fc.Arbitrary<ReplicaId[]>
const acks = fc.dictionary(
  fc.integer({ min: 1, max: 12 }).map(String),
  fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
)
const voteMap = fc
  .dictionary(fc.integer({ min: 1, max: 12 }).map(String), fc.boolean())
  .map((d) => new Map(Object.entries(d).map(([k, v]) => [Number(k) as ReplicaId, v])))

const lookup = (d: Record<string, number | undefined>) => (id: ReplicaId) => d[String(id)]

describe("quorum", () => {
  it("majority committed index matches the naive definition", () => {
    fc.assert(
      fc.property(ids, acks, (voters, d) => {
        expect(majorityCommittedIndex(voters, lookup(d))).toBe(naiveCommitted(voters, lookup(d)))
      }),
      { numRuns: 500 },
    )
  })

  it("joint committed index is the smaller of the two halves' (an empty half does not constrain)", () => {
    fc.assert(
      fc.property(ids, ids, acks, (incoming, outgoing, d) => {
        const want = Math.min(naiveCommitted(incoming, lookup(d)), naiveCommitted(outgoing, lookup(d)))
        expect(jointCommittedIndex({ incoming, outgoing }, lookup(d))).toBe(want)
      }),
      { numRuns: 500 },
    )
  })

  it("committed index is monotone: more acknowledgement never lowers it", () => {
    fc.assert(
      fc.property(ids, ids, acks, fc.integer({ min: 1, max: 12 }), (incoming, outgoing, d, who) => {
        const before = jointCommittedIndex({ incoming, outgoing }, lookup(d))
        const more = { ...d, [String(who)]: (d[String(who)] ?? 0) + 1 }
        expect(jointCommittedIndex({ incoming, outgoing }, lookup(more))).toBeGreaterThanOrEqual(before)
      }),
      { numRuns: 300 },
    )
  })

  it("majority and joint vote results match the naive definitions", () => {
    fc.assert(
      fc.property(ids, ids, voteMap, (incoming, outgoing, votes) => {
        expect(majorityVoteResult(incoming, votes)).toBe(naiveVote(incoming, votes))
        expect(jointVoteResult({ incoming, outgoing }, votes)).toBe(
          naiveJointVote(naiveVote(incoming, votes), naiveVote(outgoing, votes)),
        )
      }),
      { numRuns: 500 },
    )
  })

  it("a joint configuration with identical halves decides like a single majority", () => {
    fc.assert(
      fc.property(ids, voteMap, acks, (voters, votes, d) => {
        expect(jointVoteResult({ incoming: voters, outgoing: voters }, votes)).toBe(
          majorityVoteResult(voters, votes),
        )
        expect(jointCommittedIndex({ incoming: voters, outgoing: voters }, lookup(d))).toBe(
          majorityCommittedIndex(voters, lookup(d)),
        )
      }),
    )
  })

  it("voter ids are the sorted union of both halves", () => {
    fc.assert(
      fc.property(ids, ids, (incoming, outgoing) => {
        const want = [...new Set([...incoming, ...outgoing])].sort((a, b) => a - b)
        expect(jointVoterIds({ incoming, outgoing })).toEqual(want)
      }),
    )
  })

  it("examples", () => {
    const v = [1, 2, 3] as ReplicaId[]
    expect(majorityCommittedIndex(v, (id) => [0, 5, 3, 1][id])).toBe(3)
    expect(majorityCommittedIndex([], () => 0)).toBe(Number.POSITIVE_INFINITY)
    expect(majorityCommittedIndex([7 as ReplicaId], () => undefined)).toBe(0)
    const votes = new Map<ReplicaId, boolean>([
      [1 as ReplicaId, true],
      [2 as ReplicaId, false],
    ])
    expect(majorityVoteResult(v, votes)).toBe(VoteResult.Pending)
    votes.set(3 as ReplicaId, false)
    expect(majorityVoteResult(v, votes)).toBe(VoteResult.Lost)
    expect(majorityVoteResult([], votes)).toBe(VoteResult.Won)
  })

  describe("ProgressTracker", () => {
    const tracker = (incoming: number[], outgoing: number[] = [], learners: number[] = []) => {
      const t = new ProgressTracker(8, 0)
      const progress = new Map()
      for (const id of [...incoming, ...outgoing, ...learners]) progress.set(id, t.newProgress(1, false))
      t.setConfig(
        {
          incoming: incoming as ReplicaId[],
          outgoing: outgoing as ReplicaId[],
          learners: learners as ReplicaId[],
          learnersNext: [],
          autoLeave: false,
        },
        progress,
      )
      return t
    }

    it("commits by voters' match only; learners never count", () => {
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 5, maxLength: 5 }), (m) => {
          const t = tracker([1, 2, 3], [], [4, 5])
          m.forEach((x, i) => {
            t.progress.get((i + 1) as ReplicaId)!.match = x
          })
          expect(t.committed()).toBe(naiveCommitted([1, 2, 3] as ReplicaId[], (id) => m[id - 1]))
          expect(t.progress.get(4 as ReplicaId)!.isLearner).toBe(true)
        }),
      )
    })

    it("check-quorum counts recently active voters (learners excluded), in both halves", () => {
      const t = tracker([1, 2, 3], [3, 4, 5], [6])
      const active = (ids: number[]) => {
        for (const [id, pr] of t.progress) pr.recentActive = ids.includes(id)
      }
      active([1, 2, 3])
      expect(t.quorumActive()).toBe(false) // outgoing half has only 3
      active([1, 3, 4])
      expect(t.quorumActive()).toBe(true)
      active([1, 2, 6])
      expect(t.quorumActive()).toBe(false)
    })

    it("tallies votes of voters only", () => {
      const t = tracker([1, 2, 3], [], [4])
      t.recordVote(4 as ReplicaId, true)
      t.recordVote(1 as ReplicaId, true)
      expect(t.tallyVotes()).toMatchObject({ granted: 1, rejected: 0, result: VoteResult.Pending })
      t.recordVote(2 as ReplicaId, true)
      t.recordVote(2 as ReplicaId, false) // a second vote from the same voter is ignored
      expect(t.tallyVotes()).toMatchObject({ granted: 2, result: VoteResult.Won })
    })

    it("the lease tick is the latest tick a quorum had been heard from", () => {
      const t = tracker([1, 2, 3, 4, 5])
      const heard = [0, 7, 3, 9, 1]
      heard.forEach((x, i) => {
        t.progress.get((i + 1) as ReplicaId)!.lastHeardTick = x
      })
      // Replica 1 is the leader (heard "now" = 10): ticks 10, 9, 7 are a quorum.
      expect(t.quorumHeardTick(1 as ReplicaId, 10)).toBe(7)
    })
  })
})
