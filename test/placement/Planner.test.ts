/**
 * Properties of `plan` over random recorded clusters. Each rule is checked against a naive
 * re-statement written here, not against the planner's own ClusterView.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  type ClusterState,
  findGroup,
  type GroupRecord,
  type NodeRecord,
} from "../../src/meta/ClusterState.js"
import { applyCommand } from "../../src/meta/MetaStateMachine.js"
import { describeOperator, type OperatorSpec } from "../../src/meta/Operator.js"
import { plan } from "../../src/placement/Planner.js"
import { type NodeId, nodeOfReplica } from "../../src/raft/Ids.js"
import type { ReplicaId } from "../../src/raft/Types.js"
import { NOW, type PlannerInput, anyInput as plannerInput } from "./Arbitraries.js"

const RUNS = { numRuns: 400 }

type Health = "up" | "draining" | "suspect" | "failed" | "removed"

const healthOf = (state: ClusterState, id: number): Health => {
  const n = state.nodes.find((x) => x.id === id)
  if (n === undefined || n.state === "removed") return "removed"
  const silence = NOW - n.lastHeartbeat
  if (n.state === "down" || silence > state.settings.heartbeatTimeoutMs) {
    return silence > state.settings.downTimeoutMs ? "failed" : "suspect"
  }
  return n.state === "draining" ? "draining" : "up"
}
const isAlive = (state: ClusterState, r: ReplicaId) =>
  ["up", "draining"].includes(healthOf(state, nodeOfReplica(r)))
const majority = (n: number) => Math.floor(n / 2) + 1
const votersOf = (g: GroupRecord) => g.replicas.filter((r) => r.role === "voter").map((r) => r.id)
const zone = (n: NodeRecord | undefined) => n?.labels.zone ?? ""
const nodeRec = (state: ClusterState, id: number) => state.nodes.find((n) => n.id === id)

/** Zones bind for a group that should have `target` voters: all up nodes labelled, enough distinct zones. */
const zonesBind = (state: ClusterState, target: number) => {
  const up = state.nodes.filter((n) => healthOf(state, n.id) === "up")
  return up.length > 0 && up.every((n) => zone(n) !== "") && new Set(up.map(zone)).size >= target
}
const targetOf = (state: ClusterState, g: GroupRecord) =>
  g.id === 0 ? state.settings.metaTargetSize : state.keyspaces[0]!.replicationFactor

const planOf = (input: PlannerInput) => plan(input.state, input.loads, NOW)

/** Every configuration an operator passes through, as voter sets (the new replica as "new"). */
const configurations = (g: GroupRecord, spec: OperatorSpec): Array<Array<ReplicaId | "new">> => {
  const v = votersOf(g)
  switch (spec._tag) {
    case "AddReplica":
      return [v, [...v, "new"]]
    case "MoveReplica":
      return [v, [...v.filter((x) => x !== spec.from), "new"]]
    case "RemoveReplica":
      return [v, v.filter((x) => x !== spec.replica)]
    case "TransferLeader":
      return [v]
  }
}

describe("plan", () => {
  it("never takes a group below quorum: every configuration on the way keeps a majority of alive voters", () => {
    fc.assert(
      fc.property(plannerInput, (input) => {
        for (const spec of planOf(input)) {
          const g = findGroup(input.state, spec.group)!
          for (const conf of configurations(g, spec)) {
            const alive = conf.filter((r) => r === "new" || isAlive(input.state, r)).length
            expect(conf.length, describeOperator(spec)).toBeGreaterThan(0)
            expect(alive, describeOperator(spec)).toBeGreaterThanOrEqual(majority(conf.length))
          }
          if (spec._tag === "TransferLeader") expect(isAlive(input.state, spec.to)).toBe(true)
        }
      }),
      RUNS,
    )
  })

  it("runs at most one operator per group, never beside one in flight", () => {
    fc.assert(
      fc.property(plannerInput, (input) => {
        const groups = planOf(input).map((s) => s.group)
        expect(new Set(groups).size).toBe(groups.length)
        const busy = new Set(input.state.operators.map((o) => o.spec.group))
        for (const g of groups) expect(busy.has(g)).toBe(false)
      }),
      RUNS,
    )
  })

  it("puts new replicas on up nodes that host no replica of the group, in a free zone when zones bind", () => {
    fc.assert(
      fc.property(plannerInput, (input) => {
        const s = input.state
        for (const spec of planOf(input)) {
          if (spec._tag !== "AddReplica" && spec._tag !== "MoveReplica") continue
          const g = findGroup(s, spec.group)!
          expect(healthOf(s, spec.node)).toBe("up")
          expect(g.replicas.map((r) => nodeOfReplica(r.id))).not.toContain(spec.node)
          if (zonesBind(s, targetOf(s, g))) {
            const staying = g.replicas.filter((r) => spec._tag !== "MoveReplica" || r.id !== spec.from)
            const zones = staying.map((r) => zone(nodeRec(s, nodeOfReplica(r.id))))
            expect(zones, describeOperator(spec)).not.toContain(zone(nodeRec(s, spec.node)))
          }
        }
      }),
      RUNS,
    )
  })

  it("respects the rate limits per node and per cluster", () => {
    const involved = (spec: OperatorSpec): NodeId[] => {
      switch (spec._tag) {
        case "AddReplica":
          return [spec.node]
        case "RemoveReplica":
          return [nodeOfReplica(spec.replica)]
        case "MoveReplica":
          return [spec.node, nodeOfReplica(spec.from)]
        case "TransferLeader":
          return [nodeOfReplica(spec.from), nodeOfReplica(spec.to)]
      }
    }
    fc.assert(
      fc.property(plannerInput, (input) => {
        const s = input.state
        const planned = planOf(input)
        if (planned.length > 0) {
          expect(s.operators.length + planned.length).toBeLessThanOrEqual(s.settings.maxOperatorsPerCluster)
        }
        const working = (n: NodeId) => !["failed", "removed"].includes(healthOf(s, n))
        const load = new Map<NodeId, number>()
        for (const spec of [...s.operators.map((o) => o.spec), ...planned]) {
          for (const n of involved(spec)) if (working(n)) load.set(n, (load.get(n) ?? 0) + 1)
        }
        for (const spec of planned) {
          for (const n of involved(spec)) {
            if (working(n)) expect(load.get(n)!).toBeLessThanOrEqual(s.settings.maxOperatorsPerNode)
          }
        }
      }),
      RUNS,
    )
  })

  it("emits only operators the metadata group accepts, in order", () => {
    fc.assert(
      fc.property(plannerInput, (input) => {
        let state = input.state
        for (const spec of planOf(input)) {
          const { state: next, response } = applyCommand(state, { _tag: "StartOperator", spec, at: NOW })
          expect(response._tag, describeOperator(spec)).toBe("OperatorStarted")
          state = next
        }
      }),
      RUNS,
    )
  })

  it("replaces only replicas of failed nodes, drains only draining ones, moves only voters", () => {
    fc.assert(
      fc.property(plannerInput, (input) => {
        const s = input.state
        for (const spec of planOf(input)) {
          if (spec._tag !== "MoveReplica") continue
          const g = findGroup(s, spec.group)!
          expect(votersOf(g)).toContain(spec.from)
          const h = healthOf(s, nodeOfReplica(spec.from))
          if (spec.reason === "replace-failed") expect(["failed", "removed"]).toContain(h)
          if (spec.reason === "drain") expect(nodeRec(s, nodeOfReplica(spec.from))!.state).toBe("draining")
        }
      }),
      RUNS,
    )
  })

  it("is deterministic, and depends on the state's content only", () => {
    fc.assert(
      fc.property(plannerInput, (input) => {
        const copy = JSON.parse(JSON.stringify(input)) as PlannerInput
        expect(planOf(copy)).toEqual(planOf(input))
        expect(plan(input.state, [...input.loads].reverse(), NOW)).toEqual(planOf(input))
      }),
      { numRuns: 100 },
    )
  })

  it("does nothing before bootstrap", () => {
    fc.assert(
      fc.property(plannerInput, (input) => {
        expect(plan({ ...input.state, bootstrapped: false }, input.loads, NOW)).toEqual([])
      }),
      { numRuns: 20 },
    )
  })
})
