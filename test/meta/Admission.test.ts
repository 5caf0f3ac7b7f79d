/**
 * Keyspace admission: a keyspace is created only when nodes host its kind and its replicas fit
 * under the cluster's limit of replicas per node; the placement never puts a shard on a node
 * that does not host its kind nor over the limit.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { replicaCounts } from "../../src/meta/Allocation.js"
import { DEFAULT_MAX_REPLICAS_PER_NODE, findGroup } from "../../src/meta/ClusterState.js"
import { decodeState, encodeState, type MetaStateMachine } from "../../src/meta/MetaStateMachine.js"
import { plan } from "../../src/placement/Planner.js"
import { NodeId, nodeOfReplica } from "../../src/raft/Ids.js"
import { cluster, must } from "./Helpers.js"

const create = (sm: MetaStateMachine, shards: number, kind?: string, rf = 3) =>
  sm.applyCommand({
    _tag: "CreateKeyspace",
    name: "ks",
    shards,
    replicationFactor: rf,
    ...(kind === undefined ? {} : { kind }),
    at: 1,
  })

describe("keyspace admission", () => {
  it("refuses a kind no node hosts, naming the kinds hosted, and creates nothing", () => {
    const sm = cluster(3)
    const before = sm.state()
    const r = create(sm, 8, "Nope")
    expect(r).toMatchObject({ _tag: "UnknownKind", kind: "Nope", hosted: ["kv"] })
    expect(sm.state()).toBe(before)
    // The name stays free: the right kind is accepted afterwards.
    expect(create(sm, 8)._tag).toBe("KeyspaceCreated")
  })

  it("places shards only on the nodes that registered their kind", () => {
    const sm = cluster(3)
    for (const i of [4, 5, 6])
      must(sm, { _tag: "RegisterNode", token: `c${i}`, name: `c${i}`, labels: {}, kinds: ["Counter"], at: 0 })
    const r = create(sm, 10, "Counter")
    expect(r._tag).toBe("KeyspaceCreated")
    const s = sm.state()
    for (const g of s.groups.filter((x) => x.keyspace === "ks"))
      for (const rep of g.replicas) expect([4, 5, 6]).toContain(nodeOfReplica(rep.id))
    // Two Counter nodes are not enough for three voters.
    must(sm, { _tag: "RegisterNode", token: "c6", name: "c6", labels: {}, kinds: ["kv"], at: 0 })
    expect(
      sm.applyCommand({
        _tag: "CreateKeyspace",
        name: "ks2",
        shards: 1,
        replicationFactor: 3,
        kind: "Counter",
        at: 1,
      }),
    ).toMatchObject({ _tag: "NotEnoughNodes", needed: 3, available: 2 })
  })

  it("a re-registration replaces the node's kinds", () => {
    const sm = cluster(1)
    must(sm, {
      _tag: "RegisterNode",
      token: "t1",
      name: "n1",
      labels: {},
      kinds: ["Counter", "kv", "kv"],
      at: 0,
    })
    expect(sm.state().nodes[0]!.kinds).toEqual(["Counter", "kv"])
    expect(
      sm.applyCommand({ _tag: "RegisterNode", token: "t1", name: "n1", labels: {}, kinds: ["meta"], at: 0 }),
    ).toMatchObject({ _tag: "InvalidArgument" })
  })

  it("refuses a shard count the nodes cannot host under maxReplicasPerNode", () => {
    const sm = cluster(3)
    must(sm, { _tag: "UpdateSettings", settings: { maxReplicasPerNode: 10 } })
    // 3 nodes x 10 = 30 slots; the metadata group uses 1 (on node 1): 29 free, 9 shards x 3 = 27 fit.
    expect(create(sm, 10)).toMatchObject({ _tag: "NotEnoughCapacity", needed: 30, available: 29 })
    expect(create(sm, 9)._tag).toBe("KeyspaceCreated")
    expect(
      sm.applyCommand({ _tag: "CreateKeyspace", name: "more", shards: 1, replicationFactor: 3, at: 1 }),
    ).toMatchObject({ _tag: "NotEnoughCapacity", needed: 3, available: 2 })
    expect(sm.applyCommand({ _tag: "UpdateSettings", settings: { maxReplicasPerNode: 0 } })._tag).toBe(
      "InvalidArgument",
    )
  })

  it("never places more replicas on a node than the limit (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 6 }),
        fc.integer({ min: 2, max: 12 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 3 })), { maxLength: 6 }),
        (nodes, max, requests) => {
          const sm = cluster(nodes)
          must(sm, { _tag: "UpdateSettings", settings: { maxReplicasPerNode: max } })
          requests.forEach(([shards, rf], i) => {
            sm.applyCommand({ _tag: "CreateKeyspace", name: `k${i}`, shards, replicationFactor: rf, at: 1 })
          })
          for (const [, count] of replicaCounts(sm.state())) expect(count).toBeLessThanOrEqual(max)
          for (const g of sm.state().groups) expect(findGroup(sm.state(), g.id)).toBeDefined()
        },
      ),
      { numRuns: 60 },
    )
  })

  it("decodes snapshots written before node kinds and the replica limit existed", () => {
    const json = JSON.parse(new TextDecoder().decode(encodeState(cluster(2).state())))
    for (const node of json.nodes) delete node.kinds
    delete json.settings.maxReplicasPerNode
    const state = decodeState(new TextEncoder().encode(JSON.stringify(json)))
    expect(state.nodes.map((x) => x.kinds)).toEqual([["kv"], ["kv"]])
    expect(state.settings.maxReplicasPerNode).toBe(DEFAULT_MAX_REPLICAS_PER_NODE)
  })
})

describe("replacement replicas", () => {
  it("go only to nodes hosting the group's kind", () => {
    const sm = cluster(3)
    for (const i of [4, 5, 6, 7])
      must(sm, { _tag: "RegisterNode", token: `c${i}`, name: `c${i}`, labels: {}, kinds: ["Counter"], at: 0 })
    must(sm, { _tag: "CreateKeyspace", name: "ks", shards: 4, replicationFactor: 3, kind: "Counter", at: 1 })
    // Node 4 stops heartbeating: past the down timeout its replicas are replaced.
    const later = sm.state().settings.downTimeoutMs + 10
    for (const id of [1, 2, 3, 5, 6, 7]) must(sm, { _tag: "Heartbeat", node: NodeId(id), at: later })
    const ops = plan(sm.state(), [], later)
    const targets = ops.flatMap((op) => ("node" in op && op.group !== 0 ? [op.node] : []))
    expect(targets.length).toBeGreaterThan(0)
    for (const t of targets) expect([5, 6, 7]).toContain(t)
  })
})
