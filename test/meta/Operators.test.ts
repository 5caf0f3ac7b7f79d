import { describe, expect, it } from "vitest"
import { findGroup, OPERATOR_HISTORY } from "../../src/meta/ClusterState.js"
import type { MetaStateMachine } from "../../src/meta/MetaStateMachine.js"
import type { OperatorSpec } from "../../src/meta/Operator.js"
import { GroupId, nodeOfReplica, replicaIdOf } from "../../src/raft/Ids.js"
import type { ReplicaId } from "../../src/raft/Types.js"
import { cluster, must, n } from "./Helpers.js"

const setup = (): { sm: MetaStateMachine; free: number; voter: ReplicaId } => {
  const sm = cluster(4)
  must(sm, { _tag: "CreateKeyspace", name: "kv", shards: 2, replicationFactor: 3, at: 1 })
  const group = findGroup(sm.state(), 1)!
  const free = [1, 2, 3, 4].find((x) => !group.replicas.some((y) => nodeOfReplica(y.id) === x))!
  return { sm, free, voter: group.replicas[0]!.id }
}

const move = (from: ReplicaId, node: number): OperatorSpec => ({
  _tag: "MoveReplica",
  group: GroupId(1),
  from,
  node: n(node),
  reason: "balance-replicas",
})

describe("operator records", () => {
  it("start with an id and a deadline, one per group at a time", () => {
    const { sm, free, voter } = setup()
    expect(sm.applyCommand({ _tag: "StartOperator", spec: move(voter, free), at: 100 })).toEqual({
      _tag: "OperatorStarted",
      id: 1,
      deadline: 100 + sm.state().settings.operatorTimeoutMs,
    })
    expect(sm.applyCommand({ _tag: "StartOperator", spec: move(voter, free), at: 101 })).toMatchObject({
      _tag: "OperatorConflict",
      group: 1,
      operator: 1,
    })
    const transfer: OperatorSpec = {
      _tag: "TransferLeader",
      group: GroupId(2),
      from: replicaIdOf(n(1)),
      to: replicaIdOf(n(1)),
      reason: "balance-leaders",
    }
    expect(sm.applyCommand({ _tag: "StartOperator", spec: transfer, at: 1 })._tag).toBe("UnknownReplica")
  })

  it("refuse specs that do not fit the group", () => {
    const { sm, free, voter } = setup()
    const start = (spec: OperatorSpec) => sm.applyCommand({ _tag: "StartOperator", spec, at: 1 })._tag
    expect(start({ ...move(voter, free), group: GroupId(9) })).toBe("UnknownGroup")
    expect(start(move(replicaIdOf(n(free)), free))).toBe("UnknownReplica")
    expect(start(move(voter, nodeOfReplica(voter)))).toBe("ReplicaExists")
    expect(start(move(voter, 9))).toBe("UnknownNode")
    must(sm, { _tag: "SetNodeState", node: n(free), state: "down", at: 1 })
    expect(start(move(voter, free))).toBe("NodeUnavailable")
    expect(
      start({ _tag: "RemoveReplica", group: GroupId(1), replica: replicaIdOf(n(free)), reason: "drain" }),
    ).toBe("UnknownReplica")
  })

  it("bind the allocated replica to the operator, idempotently", () => {
    const { sm, free, voter } = setup()
    must(sm, { _tag: "StartOperator", spec: move(voter, free), at: 1 })
    const first = sm.applyCommand({ _tag: "AddLearner", group: GroupId(1), node: n(free), operator: 1 })
    const again = sm.applyCommand({ _tag: "AddLearner", group: GroupId(1), node: n(free), operator: 1 })
    expect(first).toEqual(again)
    expect(first._tag === "ReplicaAllocated" && sm.state().operators[0]!.newReplica === first.replica).toBe(
      true,
    )
    expect(sm.applyCommand({ _tag: "AddLearner", group: GroupId(2), node: n(free), operator: 1 })._tag).toBe(
      "OperatorMismatch",
    )
    expect(sm.applyCommand({ _tag: "AddLearner", group: GroupId(1), node: n(free), operator: 7 })._tag).toBe(
      "UnknownOperator",
    )
  })

  it("finish, roll back and time out by the rules", () => {
    const { sm, free, voter } = setup()
    const started = must(sm, { _tag: "StartOperator", spec: move(voter, free), at: 10 })
    const deadline = started._tag === "OperatorStarted" ? started.deadline : 0
    expect(sm.applyCommand({ _tag: "FinishOperator", id: 1, outcome: "succeeded", at: 11 })).toMatchObject({
      _tag: "OperatorMismatch",
      message: "no replica was added",
    })
    expect(sm.applyCommand({ _tag: "FinishOperator", id: 1, outcome: "rolled-back", at: 11 })._tag).toBe(
      "OperatorMismatch",
    )
    must(sm, { _tag: "StepOperator", id: 1, step: "add-learner", at: 12 })
    expect(sm.state().operators[0]).toMatchObject({ step: "add-learner", updatedAt: 12 })
    expect(sm.applyCommand({ _tag: "TimeoutOperator", id: 1, at: deadline - 1 })._tag).toBe(
      "OperatorMismatch",
    )
    must(sm, { _tag: "TimeoutOperator", id: 1, at: deadline })
    expect(sm.state().operators[0]).toMatchObject({ status: "rolling-back", cause: "timeout" })
    expect(sm.applyCommand({ _tag: "RollbackOperator", id: 1, cause: "x", at: deadline })._tag).toBe(
      "OperatorMismatch",
    )
    must(sm, { _tag: "FinishOperator", id: 1, outcome: "rolled-back", at: deadline + 1 })
    expect(sm.state().operators).toEqual([])
    expect(sm.state().history.map((o) => [o.id, o.status])).toEqual([[1, "rolled-back"]])
    expect(sm.applyCommand({ _tag: "StepOperator", id: 1, step: "x", at: 1 })._tag).toBe("UnknownOperator")
  })

  it("keep a bounded history", () => {
    const { sm, free, voter } = setup()
    for (let i = 1; i <= OPERATOR_HISTORY + 5; i++) {
      must(sm, { _tag: "StartOperator", spec: move(voter, free), at: i })
      must(sm, { _tag: "RollbackOperator", id: i, cause: "test", at: i })
      must(sm, { _tag: "FinishOperator", id: i, outcome: "rolled-back", at: i })
    }
    const history = sm.state().history
    expect(history.length).toBe(OPERATOR_HISTORY)
    expect(history[0]!.id).toBe(6)
    expect(history.at(-1)!.id).toBe(OPERATOR_HISTORY + 5)
  })

  it("keep a node with an incoming replica from being removed", () => {
    const sm = cluster(5)
    must(sm, { _tag: "CreateKeyspace", name: "kv", shards: 1, replicationFactor: 3, at: 1 })
    const group = findGroup(sm.state(), 1)!
    const [a, b] = [2, 3, 4, 5].filter((x) => !group.replicas.some((y) => nodeOfReplica(y.id) === x))
    for (const node of [a!, b!]) must(sm, { _tag: "SetNodeState", node: n(node), state: "down", at: 2 })
    must(sm, { _tag: "SetNodeState", node: n(b!), state: "up", at: 3 })
    must(sm, { _tag: "StartOperator", spec: move(group.replicas[0]!.id, b!), at: 3 })
    must(sm, { _tag: "SetNodeState", node: n(b!), state: "down", at: 4 })
    must(sm, { _tag: "SetNodeState", node: n(a!), state: "removed", at: 5 })
    expect(sm.applyCommand({ _tag: "SetNodeState", node: n(b!), state: "removed", at: 5 })).toMatchObject({
      _tag: "NodeNotEmpty",
      replicas: 1,
    })
  })
})
