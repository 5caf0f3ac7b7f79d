import { describe, expect, it } from "vitest"
import type { ClusterState } from "../../src/meta/ClusterState.js"
import { MetaStateMachine } from "../../src/meta/MetaStateMachine.js"
import type { NodeLoad } from "../../src/meta/NodeReport.js"
import type { ReportEntry } from "../../src/node/MetaEndpoint.js"
import { adminRequestOf, freshLoads, heartbeatUpdates, isWarm } from "../../src/node/PlacementDriver.js"
import { ConfChangeTransition, ConfChangeType, confChange, leaveJoint } from "../../src/raft/ConfChange.js"
import { GroupId, NodeId } from "../../src/raft/Ids.js"
import type { ReplicaId } from "../../src/raft/Types.js"

// heartbeat timeout 4,000 ms: heartbeats are recorded at most every 1,000 ms
const T = 1_000_000
const cluster = (): MetaStateMachine => {
  const sm = new MetaStateMachine()
  sm.applyCommand({
    _tag: "Bootstrap",
    cluster: "c",
    token: "t1",
    name: "",
    labels: {},
    settings: { heartbeatTimeoutMs: 4_000, downTimeoutMs: 10_000 },
    at: T,
  })
  sm.applyCommand({ _tag: "RegisterNode", token: "t2", name: "", labels: {}, at: T })
  sm.applyCommand({ _tag: "RegisterNode", token: "t3", name: "", labels: {}, at: T })
  return sm
}
const load = (node: number): NodeLoad => ({ node: NodeId(node), at: 0, replicas: [] })
const entries = (...xs: Array<[number, number]>): Map<NodeId, ReportEntry> =>
  new Map(xs.map(([n, at]) => [NodeId(n), { load: load(n), receivedAt: at }]))

describe("the driver's bookkeeping", () => {
  it("records a heartbeat at most once per quarter of the heartbeat timeout, and at once for a node recorded down", () => {
    const sm = cluster()
    expect(heartbeatUpdates(sm.state(), entries([1, T + 999], [2, T + 1_000], [3, T + 5_000]))).toEqual([
      { _tag: "Heartbeat", node: 2, at: T + 1_000 },
      { _tag: "Heartbeat", node: 3, at: T + 5_000 },
    ])
    sm.applyCommand({ _tag: "SetNodeState", node: NodeId(3), state: "down", at: T + 6_000 })
    expect(heartbeatUpdates(sm.state(), entries([3, T + 6_000]))).toEqual([])
    expect(heartbeatUpdates(sm.state(), entries([3, T + 6_001]))).toEqual([
      { _tag: "Heartbeat", node: 3, at: T + 6_001 },
    ])
    // Unknown nodes report nothing worth recording.
    expect(heartbeatUpdates(sm.state(), entries([9, T + 9_000]))).toEqual([])
  })

  it("uses only reports from nodes alive now and younger than the heartbeat timeout", () => {
    const sm = cluster()
    const now = T + 3_000
    const s: ClusterState = sm.state()
    expect(freshLoads(s, entries([1, T], [2, now - 4_001], [3, now - 100]), now).map((l) => l.node)).toEqual([
      1, 3,
    ])
    // Node 1 silent in the log past the heartbeat timeout: its report no longer counts.
    expect(freshLoads(s, entries([1, T + 4_500]), T + 5_000).map((l) => l.node)).toEqual([])
  })

  it("is warm once every node recorded up or draining reported to this leader, or after the warm-up", () => {
    const sm = cluster()
    const since = T + 100
    expect(isWarm(sm.state(), entries([1, since], [2, since + 5]), since, since + 10, 3_000)).toBe(false)
    expect(
      isWarm(sm.state(), entries([1, since], [2, since + 5], [3, since + 9]), since, since + 10, 3_000),
    ).toBe(true)
    expect(
      isWarm(sm.state(), entries([1, since - 1], [2, since], [3, since]), since, since + 10, 3_000),
    ).toBe(false)
    expect(isWarm(sm.state(), entries(), since, since + 3_000, 3_000)).toBe(true)
    sm.applyCommand({ _tag: "SetNodeState", node: NodeId(3), state: "down", at: T })
    expect(isWarm(sm.state(), entries([1, since], [2, since]), since, since + 10, 3_000)).toBe(true)
  })

  it("turns group actions into admin requests", () => {
    const r = (n: number) => n as ReplicaId
    expect(
      adminRequestOf({
        _tag: "ChangeMembership",
        group: GroupId(4),
        step: "promote",
        change: confChange(
          [
            { type: ConfChangeType.AddNode, nodeId: r(65540) },
            { type: ConfChangeType.AddLearner, nodeId: r(2) },
          ],
          ConfChangeTransition.JointImplicit,
        ),
      }),
    ).toEqual({
      op: "conf-change",
      group: 4,
      changes: [
        { type: "add-voter", replica: 65540 },
        { type: "add-learner", replica: 2 },
      ],
      transition: "joint",
    })
    expect(
      adminRequestOf({
        _tag: "ChangeMembership",
        group: GroupId(4),
        step: "leave-joint",
        change: leaveJoint(),
      }),
    ).toEqual({ op: "conf-change", group: 4, changes: [], transition: "auto" })
    expect(
      adminRequestOf({
        _tag: "ChangeMembership",
        group: GroupId(4),
        step: "remove-old",
        change: confChange([{ type: ConfChangeType.RemoveNode, nodeId: r(2) }]),
      }),
    ).toEqual({ op: "conf-change", group: 4, changes: [{ type: "remove", replica: 2 }], transition: "auto" })
    expect(
      adminRequestOf({ _tag: "TransferLeadership", group: GroupId(4), to: r(3), step: "transfer" }),
    ).toEqual({
      op: "transfer-leader",
      group: 4,
      to: 3,
    })
  })
})
