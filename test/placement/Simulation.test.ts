/**
 * Placement simulations: plan, carry operators out step by step against a model cluster, and
 * check convergence and the final placement. See Simulation.ts for the model.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { zonesBind } from "../../src/meta/Allocation.js"
import { findGroup, findNode, zoneOf } from "../../src/meta/ClusterState.js"
import { findLeaderChain, type Leadership } from "../../src/meta/LeaderChains.js"
import { plan } from "../../src/placement/Planner.js"
import { type NodeId, nodeOfReplica } from "../../src/raft/Ids.js"
import { Simulation } from "./Simulation.js"

/** Replicas and leaders of shard groups per node, over the given nodes. */
const counts = (sim: Simulation, nodes: ReadonlyArray<NodeId>) => {
  const replicas = new Map<NodeId, number>(nodes.map((n) => [n, 0]))
  const leaders = new Map<NodeId, number>(nodes.map((n) => [n, 0]))
  for (const g of sim.state.groups) {
    if (g.id === 0) continue
    for (const r of g.replicas)
      replicas.set(nodeOfReplica(r.id), (replicas.get(nodeOfReplica(r.id)) ?? 0) + 1)
    const leader = sim.groups.get(g.id)!.leader
    if (leader !== 0) leaders.set(nodeOfReplica(leader), (leaders.get(nodeOfReplica(leader)) ?? 0) + 1)
  }
  return { replicas, leaders }
}

/** Every value within one of the mean (over the given nodes). */
const expectWithinOneOfMean = (m: Map<NodeId, number>, nodes: ReadonlyArray<NodeId>, what: string) => {
  const values = nodes.map((n) => m.get(n) ?? 0)
  const mean = values.reduce((a, b) => a + b, 0) / values.length
  for (const v of values) expect(Math.abs(v - mean), `${what}: ${values.join(",")}`).toBeLessThanOrEqual(1)
}

const usableNodes = (sim: Simulation): NodeId[] =>
  sim.state.nodes.filter((n) => n.state === "up" && sim.alive.get(n.id)).map((n) => n.id)

/** Safety and replication checks that hold once a simulation has settled. */
const expectHealthy = (sim: Simulation, rf: number) => {
  expect(sim.violations).toEqual([])
  expect(sim.refusals).toEqual([])
  expect(sim.state.operators).toEqual([])
  const usable = new Set(usableNodes(sim))
  const upRecords = sim.state.nodes.filter((n) => usable.has(n.id))
  for (const g of sim.state.groups) {
    const model = sim.groups.get(g.id)!
    // The record matches the group's own configuration.
    expect(g.replicas.map((r) => r.id).sort((a, b) => a - b)).toEqual([...model.voters].sort((a, b) => a - b))
    expect(g.replicas.every((r) => r.role === "voter")).toBe(true)
    expect(model.learners).toEqual([])
    const nodes = g.replicas.map((r) => nodeOfReplica(r.id))
    expect(new Set(nodes).size).toBe(nodes.length)
    if (g.id === 0) continue
    if (usable.size >= rf) {
      expect(g.replicas.length, `group ${g.id}`).toBe(rf)
      for (const node of nodes) expect(usable.has(node), `group ${g.id} on n${node}`).toBe(true)
    }
    if (zonesBind(upRecords, rf)) {
      const zones = nodes.map((n) => zoneOf(findNode(sim.state, n)!))
      expect(new Set(zones).size, `zones of group ${g.id}`).toBe(zones.length)
    }
  }
  expect(plan(sim.state, sim.loads(), sim.now)).toEqual([])
  // Leaders are as balanced as the groups' voters allow: no chain of transfers is left.
  const { leaders } = counts(sim, [...usable])
  const byLeader = new Map<NodeId, Leadership<number>[]>()
  for (const g of sim.groups.values()) {
    if (g.id === 0 || g.leader === 0) continue
    const at = nodeOfReplica(g.leader)
    const candidates = g.voters.map(nodeOfReplica).filter((x) => usable.has(x))
    byLeader.set(at, [...(byLeader.get(at) ?? []), { group: g.id, leader: at, candidates }])
  }
  for (const node of usable) {
    expect(
      findLeaderChain(
        node,
        byLeader,
        (x) => leaders.get(x) ?? 0,
        (x) => usable.has(x),
      ),
    ).toBeUndefined()
  }
}

describe("placement simulation", () => {
  it("3 nodes, 30 shards R=3, then a 4th and 5th node: replica and leader counts end within ±1 of the mean", () => {
    const sim = new Simulation(3)
    sim.createKeyspace("kv", 30, 3)
    sim.settle()
    expectHealthy(sim, 3)
    expect(findGroup(sim.state, 0)!.replicas.length).toBe(3)
    sim.addNode()
    sim.addNode()
    sim.settle()
    expectHealthy(sim, 3)
    const nodes = usableNodes(sim)
    expect(nodes.length).toBe(5)
    const { replicas, leaders } = counts(sim, nodes)
    expectWithinOneOfMean(replicas, nodes, "replicas")
    expectWithinOneOfMean(leaders, nodes, "leaders")
    expect([...replicas.values()]).toEqual([18, 18, 18, 18, 18])
  })

  it("replaces the replicas of a node down longer than the down timeout, the metadata group's included", () => {
    const sim = new Simulation(5)
    sim.createKeyspace("kv", 20, 3)
    sim.settle()
    const victim = nodeOfReplica(findGroup(sim.state, 0)!.replicas[0]!.id)
    sim.kill(victim)
    // Suspect first: nothing is replaced before the down timeout.
    sim.run(8)
    expect(sim.state.history.filter((o) => o.spec.reason === "replace-failed")).toEqual([])
    expect(findNode(sim.state, victim)!.state).toBe("down")
    sim.run(5)
    sim.settle()
    expectHealthy(sim, 3)
    expect(counts(sim, [victim]).replicas.get(victim)).toBe(0)
    expect(findGroup(sim.state, 0)!.replicas.map((r) => nodeOfReplica(r.id))).not.toContain(victim)
    expect(findGroup(sim.state, 0)!.replicas.length).toBe(3)
    const nodes = usableNodes(sim)
    expectWithinOneOfMean(counts(sim, nodes).replicas, nodes, "replicas")
    // The dead node can now be removed for good.
    expect(sim.propose({ _tag: "SetNodeState", node: victim, state: "removed", at: sim.now })._tag).toBe(
      "Done",
    )
  })

  it("drains a node until it is empty and removable", () => {
    const sim = new Simulation(4)
    sim.createKeyspace("kv", 12, 3)
    sim.settle()
    expect(sim.drain(1 as NodeId)._tag).toBe("Done")
    expect(sim.propose({ _tag: "SetNodeState", node: 1 as NodeId, state: "removed", at: sim.now })._tag).toBe(
      "NodeNotEmpty",
    )
    sim.settle()
    expectHealthy(sim, 3)
    expect(counts(sim, [1 as NodeId]).replicas.get(1 as NodeId)).toBe(0)
    expect(findGroup(sim.state, 0)!.replicas.map((r) => nodeOfReplica(r.id))).not.toContain(1)
    expect(sim.propose({ _tag: "SetNodeState", node: 1 as NodeId, state: "removed", at: sim.now })._tag).toBe(
      "Done",
    )
    const nodes = usableNodes(sim)
    expectWithinOneOfMean(counts(sim, nodes).replicas, nodes, "replicas")
    expectWithinOneOfMean(counts(sim, nodes).leaders, nodes, "leaders")
  })

  it("grows the metadata group 1 → 3 → 5 as nodes join when the target is 5", () => {
    const sim = new Simulation(1)
    sim.propose({ _tag: "UpdateSettings", settings: { metaTargetSize: 5 } })
    const sizes: number[] = []
    for (let i = 0; i < 5; i++) {
      sim.settle()
      sizes.push(findGroup(sim.state, 0)!.replicas.length)
      sim.addNode()
    }
    expect(sizes).toEqual([1, 1, 3, 3, 5])
    expect(sim.violations).toEqual([])
  })

  it("keeps replicas of a shard in distinct zones through growth and failure", () => {
    const sim = new Simulation(6, ["a", "b", "c"])
    sim.createKeyspace("kv", 18, 3)
    sim.settle()
    expectHealthy(sim, 3)
    sim.addNode({ zone: "a" })
    sim.addNode({ zone: "b" })
    sim.settle()
    expectHealthy(sim, 3)
    sim.kill(2 as NodeId)
    sim.run(12)
    sim.settle()
    expectHealthy(sim, 3)
  })

  it("moves replicas apart when a relabelled node puts two of a shard in one zone", () => {
    const sim = new Simulation(6, ["a", "b", "c"])
    sim.createKeyspace("kv", 12, 3)
    sim.settle()
    expect(sim.relabel(4 as NodeId, { zone: "b" })).toMatchObject({
      _tag: "NodeRegistered",
      node: 4,
      rejoined: true,
    })
    sim.settle()
    expectHealthy(sim, 3)
    expect(sim.state.history.some((o) => o.spec.reason === "zone-conflict")).toBe(true)
  })

  it("follows a keyspace's replication factor up and down", () => {
    const sim = new Simulation(5)
    sim.createKeyspace("kv", 10, 3)
    sim.settle()
    sim.propose({ _tag: "SetReplicationFactor", keyspace: "kv", replicationFactor: 5 })
    sim.settle()
    expectHealthy(sim, 5)
    sim.propose({ _tag: "SetReplicationFactor", keyspace: "kv", replicationFactor: 3 })
    sim.settle()
    expectHealthy(sim, 3)
    const nodes = usableNodes(sim)
    expectWithinOneOfMean(counts(sim, nodes).replicas, nodes, "replicas")
  })

  it("rolls back a move whose target dies while its learner catches up, then places the replica elsewhere", () => {
    const sim = new Simulation(3)
    sim.createKeyspace("kv", 6, 3)
    sim.settle()
    const fresh = sim.addNode()
    // Let operators allocate learners on the new node, then kill it.
    for (let i = 0; i < 10 && !sim.state.operators.some((o) => o.newReplica !== 0); i++) sim.round()
    expect(sim.state.operators.some((o) => o.newReplica !== 0)).toBe(true)
    sim.kill(fresh)
    sim.run(40)
    sim.settle()
    expectHealthy(sim, 3)
    const rolledBack = sim.state.history.filter((o) => o.status === "rolled-back")
    expect(rolledBack.length).toBeGreaterThan(0)
    expect(rolledBack.every((o) => o.cause === "target-unavailable" || o.cause === "timeout")).toBe(true)
    expect(counts(sim, [fresh]).replicas.get(fresh)).toBe(0)
  })

  it("converges to no operators from random histories of joins, failures and drains", () => {
    const event = fc.oneof(
      fc.record({ kind: fc.constant("add" as const), zone: fc.constantFrom("a", "b", "c") }),
      fc.record({ kind: fc.constant("kill" as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant("drain" as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant("revive" as const), pick: fc.nat() }),
    )
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 6 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 16 }),
        fc.constantFrom(1, 2, 3),
        fc.array(event, { maxLength: 4 }),
        (nodes, zoned, shards, rf, events) => {
          const sim = new Simulation(nodes, zoned ? ["a", "b", "c"] : [])
          sim.createKeyspace("kv", shards, rf)
          sim.settle()
          expectHealthy(sim, rf)
          for (const e of events) {
            const usable = usableNodes(sim)
            const dead = [...sim.alive].filter(([, up]) => !up).map(([n]) => n)
            if (e.kind === "add") sim.addNode(zoned ? { zone: e.zone } : {})
            // A dead node comes back with its old data; its replicas were replaced meanwhile.
            else if (e.kind === "revive") {
              if (dead.length > 0) sim.revive(dead[e.pick % dead.length]!)
            }
            // A failure or a drain only when the rest can still hold every group (and, for
            // failures, when groups tolerate one: with R < 3 a dead node takes a quorum along).
            else if (usable.length > Math.max(rf, 3)) {
              const node = usable[e.pick % usable.length]!
              if (e.kind === "drain") sim.drain(node)
              else if (rf >= 3) sim.kill(node)
            }
            sim.run(12)
            sim.settle()
            expectHealthy(sim, rf)
            if (!zoned) {
              const ns = usableNodes(sim)
              expectWithinOneOfMean(counts(sim, ns).replicas, ns, "replicas")
            }
          }
        },
      ),
      { numRuns: Number(process.env.SIM_RUNS ?? 12) },
    )
  })
})
