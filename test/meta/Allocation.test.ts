import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { metaMembershipTarget, nodeHealth, pickNode, zonesBind } from "../../src/meta/Allocation.js"
import {
  type ClusterState,
  defaultSettings,
  findGroup,
  type NodeRecord,
  zoneOf,
} from "../../src/meta/ClusterState.js"
import { GroupId, replicaIdOf } from "../../src/raft/Ids.js"
import { cluster, must, n } from "./Helpers.js"

const node = (id: number, over: Partial<NodeRecord> = {}): NodeRecord => ({
  id: n(id),
  token: `t${id}`,
  name: "",
  labels: {},
  kinds: ["kv"],
  state: "up",
  registeredAt: 0,
  lastHeartbeat: 0,
  stateSince: 0,
  ...over,
})

describe("node health", () => {
  const s = { ...defaultSettings, heartbeatTimeoutMs: 10, downTimeoutMs: 100 }
  it("follows the recorded state and the silence since the last heartbeat", () => {
    expect(nodeHealth(node(1), s, 10)).toBe("up")
    expect(nodeHealth(node(1), s, 11)).toBe("suspect")
    expect(nodeHealth(node(1), s, 100)).toBe("suspect")
    expect(nodeHealth(node(1), s, 101)).toBe("failed")
    expect(nodeHealth(node(1, { state: "down" }), s, 5)).toBe("suspect")
    expect(nodeHealth(node(1, { state: "draining" }), s, 5)).toBe("draining")
    expect(nodeHealth(node(1, { state: "draining" }), s, 50)).toBe("suspect")
    expect(nodeHealth(node(1, { state: "removed" }), s, 0)).toBe("removed")
  })
})

describe("zones", () => {
  it("bind only when every candidate is labelled and there are enough zones", () => {
    const z = (id: number, zone?: string) => node(id, { labels: zone === undefined ? {} : { zone } })
    expect(zonesBind([z(1, "a"), z(2, "b"), z(3, "c")], 3)).toBe(true)
    expect(zonesBind([z(1, "a"), z(2, "b"), z(3, "b")], 3)).toBe(false)
    expect(zonesBind([z(1, "a"), z(2, "b"), z(3)], 2)).toBe(false)
    expect(zonesBind([], 1)).toBe(false)
  })

  it("steer pickNode: never a taken node, never a taken zone when strict, else least used zone, least load, lowest id", () => {
    const nodes = [
      node(1, { labels: { zone: "a" } }),
      node(2, { labels: { zone: "a" } }),
      node(3, { labels: { zone: "b" } }),
    ]
    const load = (id: number) => [0, 5, 0, 9][id]!
    expect(pickNode(nodes, [nodes[0]!], true, load)?.id).toBe(3)
    expect(pickNode(nodes, [nodes[0]!, nodes[2]!], true, load)).toBeUndefined()
    expect(pickNode(nodes, [nodes[0]!, nodes[2]!], false, load)?.id).toBe(2)
    expect(pickNode(nodes, [], false, load)?.id).toBe(2)
  })
})

describe("metadata group target", () => {
  const sizeFor = (state: ClusterState, now: number) => metaMembershipTarget(state, now).length

  it("grows 1 → 1 → 3 → 3 → 5 as nodes join (target 5), never with an even size", () => {
    const sm = cluster(1)
    must(sm, { _tag: "UpdateSettings", settings: { metaTargetSize: 5 } })
    const sizes = [sizeFor(sm.state(), 0)]
    for (let i = 2; i <= 6; i++) {
      must(sm, { _tag: "RegisterNode", token: `x${i}`, name: "", labels: {}, at: 0 })
      sizes.push(sizeFor(sm.state(), 0))
    }
    expect(sizes).toEqual([1, 1, 3, 3, 5, 5])
  })

  it("keeps current hosts while up or suspect, drops failed and draining ones, never shrinks healthy ones to odd", () => {
    const sm = cluster(4)
    for (const id of [2, 3]) must(sm, { _tag: "AddLearner", group: GroupId(0), node: n(id), operator: 0 })
    must(sm, {
      _tag: "RecordMembership",
      group: GroupId(0),
      confVersion: 1,
      voters: [replicaIdOf(n(1)), replicaIdOf(n(2), 1), replicaIdOf(n(3), 2)],
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
    })
    const s = sm.state()
    expect(metaMembershipTarget(s, 0)).toEqual([1, 2, 3])
    for (const id of [1, 2, 4]) must(sm, { _tag: "Heartbeat", node: n(id), at: 50_000 })
    // Node 3 is suspect at 50 s (silent 50 s > 10 s heartbeat timeout, < 60 s down timeout): kept.
    expect(metaMembershipTarget(sm.state(), 50_000)).toEqual([1, 2, 3])
    for (const id of [1, 2, 4]) must(sm, { _tag: "Heartbeat", node: n(id), at: 70_000 })
    // Failed at 70 s: replaced by node 4.
    expect(metaMembershipTarget(sm.state(), 70_000)).toEqual([1, 2, 4])
    must(sm, { _tag: "SetNodeState", node: n(4), state: "draining", at: 70_000 })
    // Only two eligible nodes are left: both kept rather than shrinking to one.
    expect(metaMembershipTarget(sm.state(), 70_000)).toEqual([1, 2])
  })

  it("spreads over zones when zones bind", () => {
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 9 }), (count) => {
        const sm = cluster(count, ["a", "b", "c"])
        expect(findGroup(sm.state(), 0)!.replicas.length).toBe(1)
        const target = metaMembershipTarget(sm.state(), 0)
        expect(target.length).toBe(3)
        const zones = target.map((id) => zoneOf(sm.state().nodes[id - 1]!))
        expect(new Set(zones).size).toBe(3)
      }),
      { numRuns: 10 },
    )
  })
})
