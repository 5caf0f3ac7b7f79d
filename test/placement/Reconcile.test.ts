import { Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { findGroup } from "../../src/meta/ClusterState.js"
import { groupStatuses, NodeLoad, type ReplicaReport } from "../../src/placement/LoadReport.js"
import { leaderHintUpdates, membershipUpdates, nodeStateUpdates } from "../../src/placement/Reconcile.js"
import { GroupId, replicaIdOf } from "../../src/raft/Ids.js"
import { cluster, must, n } from "../meta/Helpers.js"

const G = GroupId(1)
const r = (node: number, gen = 0) => replicaIdOf(n(node), gen)
const report = (replica: number, over: Partial<ReplicaReport> = {}): ReplicaReport => ({
  group: G,
  replica: r(replica),
  role: "voter",
  leader: false,
  term: 1,
  applied: 10,
  sizeBytes: 0,
  ...over,
})
const load = (node: number, replicas: ReplicaReport[]): NodeLoad => ({ node: n(node), at: 0, replicas })

describe("groupStatuses", () => {
  it("takes the leader with the highest term, whatever the report order", () => {
    const membership = {
      confVersion: 4,
      voters: [r(1), r(2)],
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    }
    const loads = [
      load(1, [report(1, { leader: true, term: 3, applied: 50 })]),
      load(2, [report(2, { leader: true, term: 4, applied: 40, membership })]),
      load(3, [report(3, { applied: 7 })]),
    ]
    fc.assert(
      fc.property(fc.shuffledSubarray(loads, { minLength: 3 }), (shuffled) => {
        const s = groupStatuses(shuffled).get(G)!
        expect(s).toMatchObject({ leader: r(2), term: 4, leaderApplied: 40, membership })
        expect([...s.applied].sort((a, b) => a[0] - b[0])).toEqual([
          [r(1), 50],
          [r(2), 40],
          [r(3), 7],
        ])
      }),
      { numRuns: 10 },
    )
    expect(groupStatuses([load(3, [report(3)])]).get(G)).toMatchObject({ leader: 0, membership: undefined })
  })
})

describe("load reports", () => {
  it("survive a trip through JSON via their Schema, and refuse malformed ids", () => {
    const membership = {
      confVersion: 2,
      voters: [r(1)],
      learners: [r(2)],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    }
    const original = load(1, [report(1, { leader: true, membership }), report(2, { role: "learner" })])
    const wire = JSON.stringify(Schema.encodeSync(NodeLoad)(original))
    expect(Schema.decodeUnknownSync(NodeLoad)(JSON.parse(wire))).toEqual(original)
    expect(() => Schema.decodeUnknownSync(NodeLoad)({ ...original, node: 0 })).toThrow()
  })
})

describe("reconcile", () => {
  const setup = () => {
    const sm = cluster(3)
    must(sm, { _tag: "CreateKeyspace", name: "kv", shards: 1, replicationFactor: 3, at: 0 })
    return sm
  }

  it("records newer memberships only", () => {
    const sm = setup()
    const voters = findGroup(sm.state(), 1)!.replicas.map((x) => x.id)
    const m = (confVersion: number) => ({
      confVersion,
      voters,
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    })
    const at = (v: number) => groupStatuses([load(1, [report(1, { leader: true, membership: m(v) })])])
    expect(membershipUpdates(sm.state(), at(0))).toEqual([])
    const cmds = membershipUpdates(sm.state(), at(3))
    expect(cmds).toEqual([
      {
        _tag: "RecordMembership",
        group: G,
        confVersion: 3,
        voters,
        learners: [],
        votersOutgoing: [],
        learnersNext: [],
      },
    ])
    for (const c of cmds) must(sm, c)
    expect(membershipUpdates(sm.state(), at(3))).toEqual([])
  })

  it("updates leader hints for reported voters from current terms", () => {
    const sm = setup()
    const hint = findGroup(sm.state(), 1)!.leaderHint
    const other = [r(1), r(2), r(3)].find((x) => x !== hint)!
    const st = (leader: number, term: number) =>
      groupStatuses([load(1, [{ ...report(1), replica: leader as never, leader: true, term }])])
    expect(leaderHintUpdates(sm.state(), st(hint, 0))).toEqual([])
    const cmds = leaderHintUpdates(sm.state(), st(other, 2))
    expect(cmds).toEqual([{ _tag: "SetLeaderHint", group: G, leader: other, term: 2 }])
    for (const c of cmds) must(sm, c)
    expect(leaderHintUpdates(sm.state(), st(hint, 1))).toEqual([])
    expect(leaderHintUpdates(sm.state(), st(r(3, 9), 5))).toEqual([])
  })

  it("marks silent up nodes down, once", () => {
    const sm = setup()
    must(sm, { _tag: "Heartbeat", node: n(1), at: 20_000 })
    must(sm, { _tag: "SetNodeState", node: n(3), state: "draining", at: 1 })
    const cmds = nodeStateUpdates(sm.state(), 20_000)
    expect(cmds).toEqual([{ _tag: "SetNodeState", node: 2, state: "down", at: 20_000 }])
    for (const c of cmds) must(sm, c)
    expect(nodeStateUpdates(sm.state(), 20_000)).toEqual([])
  })
})
