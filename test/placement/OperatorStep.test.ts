/**
 * The operator step function, walked through each operator's sequence by hand: the test plays
 * the group (it writes the status a leader would report after each action) and the metadata
 * group (a real MetaStateMachine applies every ProposeMeta).
 */
import { describe, expect, it } from "vitest"
import { findGroup } from "../../src/meta/ClusterState.js"
import type { MetaStateMachine } from "../../src/meta/MetaStateMachine.js"
import type { OperatorRecord, OperatorSpec } from "../../src/meta/Operator.js"
import type { GroupStatus, Membership } from "../../src/placement/LoadReport.js"
import { nextAction, type OperatorAction } from "../../src/placement/OperatorStep.js"
import { ConfChangeTransition, ConfChangeType } from "../../src/raft/ConfChange.js"
import { GroupId, replicaIdOf } from "../../src/raft/Ids.js"
import type { ReplicaId } from "../../src/raft/Types.js"
import { cluster, must, n } from "../meta/Helpers.js"

const G = GroupId(1)
const r = (node: number, gen = 0) => replicaIdOf(n(node), gen)
const [A, B, C] = [r(1), r(2), r(3)]
/** The replica the metadata group allocates on node 4 for group 1 (its first new generation). */
const L = r(4, 1)

const conf = (
  confVersion: number,
  voters: ReplicaId[],
  learners: ReplicaId[] = [],
  joint?: Partial<Membership>,
) => ({
  confVersion,
  voters,
  learners,
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
  ...joint,
})

const status = (
  membership: Membership | undefined,
  leader: ReplicaId,
  applied: Array<[ReplicaId, number]> = [],
  leaderApplied = 100,
): GroupStatus => ({
  group: G,
  leader,
  term: 2,
  leaderApplied,
  membership,
  applied: new Map(applied),
})

/** Four nodes (zone-less), one shard on nodes 1-3 led by node 1, and one operator started at t=1000. */
const setup = (spec: OperatorSpec): { sm: MetaStateMachine; op: () => OperatorRecord } => {
  const sm = cluster(4)
  must(sm, { _tag: "CreateKeyspace", name: "kv", shards: 1, replicationFactor: 3, at: 0 })
  expect(findGroup(sm.state(), 1)!.replicas.map((x) => x.id)).toEqual([A, B, C])
  for (const node of [1, 2, 3, 4]) must(sm, { _tag: "Heartbeat", node: n(node), at: 1_000 })
  must(sm, { _tag: "StartOperator", spec, at: 1_000 })
  return { sm, op: () => sm.state().operators[0] ?? sm.state().history.at(-1)! }
}

/** Asks for the next action at `now`; applies it to the metadata group when it is a meta command. */
const step = (
  sm: MetaStateMachine,
  op: OperatorRecord,
  s: GroupStatus | undefined,
  now = 1_500,
): OperatorAction => {
  const action = nextAction(op, sm.state(), s, now)
  if (action._tag === "ProposeMeta") must(sm, action.command)
  return action
}

const tagOf = (a: OperatorAction) => (a._tag === "ProposeMeta" ? a.command._tag : a._tag)

const move: OperatorSpec = { _tag: "MoveReplica", group: G, from: C, node: n(4), reason: "balance-replicas" }

describe("nextAction for a move", () => {
  it("walks add learner → catch up → joint promote/demote → remove old → record → finish", () => {
    const { sm, op } = setup(move)
    expect(step(sm, op(), undefined)).toMatchObject({ command: { _tag: "AddLearner", node: 4, operator: 1 } })
    expect(op().newReplica).toBe(L)
    const base = conf(0, [A, B, C])
    expect(step(sm, op(), status(base, A))).toMatchObject({
      command: { _tag: "StepOperator", step: "add-learner" },
    })
    const add = step(sm, op(), status(base, A))
    expect(add).toMatchObject({
      _tag: "ChangeMembership",
      change: { changes: [{ type: ConfChangeType.AddLearner, nodeId: L }] },
    })
    // The group applied it at index 10; the record follows first.
    const learning = conf(10, [A, B, C], [L])
    expect(tagOf(step(sm, op(), status(learning, A, [[L, 3]])))).toBe("RecordMembership")
    expect(findGroup(sm.state(), 1)!.replicas.find((x) => x.id === L)!.role).toBe("learner")
    expect(step(sm, op(), status(learning, A, [[L, 3]]))).toEqual({
      _tag: "Wait",
      reason: "learner catching up",
    })
    expect(tagOf(step(sm, op(), status(learning, A, [[L, 100]])))).toBe("StepOperator")
    const promote = step(sm, op(), status(learning, A, [[L, 100]]))
    expect(promote).toMatchObject({
      _tag: "ChangeMembership",
      change: {
        transition: ConfChangeTransition.JointImplicit,
        changes: [
          { type: ConfChangeType.AddNode, nodeId: L },
          { type: ConfChangeType.AddLearner, nodeId: C },
        ],
      },
    })
    const joint = conf(11, [A, B, L], [], { votersOutgoing: [A, B, C], learnersNext: [C], autoLeave: true })
    expect(tagOf(step(sm, op(), status(joint, A)))).toBe("RecordMembership")
    expect(step(sm, op(), status(joint, A))._tag).toBe("Wait")
    const left = conf(12, [A, B, L], [C])
    expect(tagOf(step(sm, op(), status(left, A)))).toBe("RecordMembership")
    expect(tagOf(step(sm, op(), status(left, A)))).toBe("StepOperator")
    expect(step(sm, op(), status(left, A))).toMatchObject({
      change: { changes: [{ type: ConfChangeType.RemoveNode, nodeId: C }] },
    })
    const done = conf(13, [A, B, L])
    expect(tagOf(step(sm, op(), status(done, A)))).toBe("RecordMembership")
    expect(step(sm, op(), status(done, A))).toMatchObject({
      command: { _tag: "FinishOperator", outcome: "succeeded" },
    })
    expect(op().status).toBe("succeeded")
    expect(findGroup(sm.state(), 1)!.replicas).toEqual([
      { id: A, role: "voter" },
      { id: B, role: "voter" },
      { id: L, role: "voter" },
    ])
  })

  it("hands leadership away from the replica it demotes, to the most caught-up alive voter", () => {
    const { sm, op } = setup(move)
    step(sm, op(), undefined)
    const learning = conf(10, [A, B, C], [L])
    step(sm, op(), status(learning, C)) // records the membership
    const s = status(learning, C, [
      [L, 100],
      [A, 90],
      [B, 95],
    ])
    expect(tagOf(step(sm, op(), s))).toBe("StepOperator")
    expect(step(sm, op(), s)).toMatchObject({ _tag: "TransferLeadership", to: B, step: "transfer-leader" })
  })

  it("rolls back on timeout before the point of no return: remove the learner, release it, finish rolled back", () => {
    const { sm, op } = setup(move)
    step(sm, op(), undefined)
    const deadline = op().deadline
    const learning = conf(10, [A, B, C], [L])
    step(sm, op(), status(learning, A, [[L, 1]]))
    expect(step(sm, op(), status(learning, A, [[L, 1]]), deadline)).toMatchObject({
      command: { _tag: "TimeoutOperator" },
    })
    expect(op()).toMatchObject({ status: "rolling-back", cause: "timeout" })
    expect(tagOf(step(sm, op(), status(learning, A), deadline))).toBe("StepOperator")
    expect(step(sm, op(), status(learning, A), deadline)).toMatchObject({
      change: { changes: [{ type: ConfChangeType.RemoveNode, nodeId: L }] },
    })
    const back = conf(11, [A, B, C])
    expect(tagOf(step(sm, op(), status(back, A), deadline))).toBe("RecordMembership")
    expect(step(sm, op(), status(back, A), deadline)).toMatchObject({
      command: { _tag: "FinishOperator", outcome: "rolled-back" },
    })
    expect(findGroup(sm.state(), 1)!.replicas.map((x) => x.id)).toEqual([A, B, C])
  })

  it("releases a learner the group never added", () => {
    const { sm, op } = setup(move)
    step(sm, op(), undefined)
    must(sm, { _tag: "RollbackOperator", id: 1, cause: "operator asked", at: 1_200 })
    expect(step(sm, op(), status(conf(0, [A, B, C]), A))).toMatchObject({
      command: { _tag: "DropReplica", replica: L, confVersion: 0 },
    })
    expect(step(sm, op(), status(conf(0, [A, B, C]), A))).toMatchObject({
      command: { _tag: "FinishOperator", outcome: "rolled-back" },
    })
  })

  it("completes once the new replica votes, even past its deadline or rolling back", () => {
    const { sm, op } = setup(move)
    step(sm, op(), undefined)
    const left = conf(12, [A, B, L], [C])
    step(sm, op(), status(left, A))
    const late = op().deadline + 1
    expect(tagOf(step(sm, op(), status(left, A), late))).toBe("StepOperator")
    expect(step(sm, op(), status(left, A), late)).toMatchObject({
      _tag: "ChangeMembership",
      step: "remove-old",
    })
  })

  it("aborts when the target node stops answering, and waits without a leader report", () => {
    const { sm, op } = setup(move)
    step(sm, op(), undefined)
    expect(step(sm, op(), undefined)).toEqual({ _tag: "Wait", reason: "no report from a leader" })
    expect(step(sm, op(), status(conf(0, [A, B, C]), A), 20_000)).toMatchObject({
      command: { _tag: "RollbackOperator", cause: "target-unavailable" },
    })
  })

  it("aborts an unallocated move whose target is no longer up, and finishes it at once when rolling back", () => {
    const { sm, op } = setup(move)
    must(sm, { _tag: "SetNodeState", node: n(4), state: "draining", at: 1_100 })
    expect(step(sm, op(), undefined)).toMatchObject({ command: { _tag: "RollbackOperator" } })
    expect(step(sm, op(), undefined)).toMatchObject({
      command: { _tag: "FinishOperator", outcome: "rolled-back" },
    })
  })

  it("asks to leave a joint configuration that does not leave by itself", () => {
    const { sm, op } = setup(move)
    step(sm, op(), undefined)
    const stuck = conf(0, [A, B, L], [], { votersOutgoing: [A, B, C], learnersNext: [C], autoLeave: false })
    expect(tagOf(step(sm, op(), status(stuck, A)))).toBe("StepOperator")
    expect(step(sm, op(), status(stuck, A))).toMatchObject({
      _tag: "ChangeMembership",
      step: "leave-joint",
      change: { changes: [] },
    })
  })
})

describe("nextAction for a move out of a group of one voter", () => {
  it("promotes the learner alone, hands it leadership, then removes the old voter", () => {
    const sm = cluster(2)
    must(sm, { _tag: "CreateKeyspace", name: "kv", shards: 1, replicationFactor: 1, at: 0 })
    for (const node of [1, 2]) must(sm, { _tag: "Heartbeat", node: n(node), at: 1_000 })
    const solo = findGroup(sm.state(), 1)!.replicas[0]!.id
    const dest = solo === A ? 2 : 1
    must(sm, {
      _tag: "StartOperator",
      spec: { _tag: "MoveReplica", group: G, from: solo, node: n(dest), reason: "drain" },
      at: 1_000,
    })
    const op = () => sm.state().operators[0] ?? sm.state().history.at(-1)!
    step(sm, op(), undefined)
    const fresh = op().newReplica
    const learning = conf(3, [solo], [fresh])
    step(sm, op(), status(learning, solo, [[fresh, 100]]))
    step(sm, op(), status(learning, solo, [[fresh, 100]]))
    expect(step(sm, op(), status(learning, solo, [[fresh, 100]]))).toMatchObject({
      step: "promote",
      change: {
        transition: ConfChangeTransition.Auto,
        changes: [{ type: ConfChangeType.AddNode, nodeId: fresh }],
      },
    })
    const both = conf(4, [solo, fresh])
    step(sm, op(), status(both, solo, [[fresh, 100]]))
    step(sm, op(), status(both, solo, [[fresh, 100]]))
    expect(step(sm, op(), status(both, solo, [[fresh, 100]]))).toMatchObject({
      _tag: "TransferLeadership",
      to: fresh,
    })
    step(sm, op(), status(both, fresh))
    expect(step(sm, op(), status(both, fresh))).toMatchObject({
      step: "remove-old",
      change: { changes: [{ type: ConfChangeType.RemoveNode, nodeId: solo }] },
    })
  })
})

describe("nextAction for an add", () => {
  it("promotes with a single change", () => {
    const { sm, op } = setup({ _tag: "AddReplica", group: G, node: n(4), reason: "under-replicated" })
    step(sm, op(), undefined)
    const learning = conf(10, [A, B, C], [L])
    step(sm, op(), status(learning, A, [[L, 100]]))
    step(sm, op(), status(learning, A, [[L, 100]]))
    expect(step(sm, op(), status(learning, A, [[L, 100]]))).toMatchObject({
      step: "promote",
      change: {
        transition: ConfChangeTransition.Auto,
        changes: [{ type: ConfChangeType.AddNode, nodeId: L }],
      },
    })
  })
})

describe("nextAction for a remove", () => {
  it("transfers leadership away first, then removes, then finishes", () => {
    const { sm, op } = setup({ _tag: "RemoveReplica", group: G, replica: A, reason: "over-replicated" })
    const s = status(conf(0, [A, B, C]), A, [
      [B, 100],
      [C, 100],
    ])
    expect(tagOf(step(sm, op(), s))).toBe("StepOperator")
    expect(step(sm, op(), s)).toMatchObject({ _tag: "TransferLeadership", to: B })
    const led = status(conf(0, [A, B, C]), B)
    expect(tagOf(step(sm, op(), led))).toBe("StepOperator")
    expect(step(sm, op(), led)).toMatchObject({
      change: { changes: [{ type: ConfChangeType.RemoveNode, nodeId: A }] },
    })
    const gone = status(conf(5, [B, C]), B)
    expect(tagOf(step(sm, op(), gone))).toBe("RecordMembership")
    expect(step(sm, op(), gone)).toMatchObject({ command: { _tag: "FinishOperator", outcome: "succeeded" } })
  })

  it("rolls back on timeout with nothing to undo", () => {
    const { sm, op } = setup({ _tag: "RemoveReplica", group: G, replica: C, reason: "over-replicated" })
    const s = status(conf(0, [A, B, C]), A)
    expect(tagOf(step(sm, op(), s, op().deadline))).toBe("TimeoutOperator")
    expect(step(sm, op(), s, op().deadline)).toMatchObject({ command: { outcome: "rolled-back" } })
  })
})

describe("nextAction for a leader transfer", () => {
  const transfer: OperatorSpec = {
    _tag: "TransferLeader",
    group: G,
    from: A,
    to: B,
    reason: "balance-leaders",
  }

  it("asks for the transfer until the target leads", () => {
    const { sm, op } = setup(transfer)
    const s = status(conf(0, [A, B, C]), A)
    expect(tagOf(step(sm, op(), s))).toBe("StepOperator")
    expect(step(sm, op(), s)).toEqual({ _tag: "TransferLeadership", group: G, to: B, step: "transfer" })
    expect(step(sm, op(), s)._tag).toBe("TransferLeadership")
    expect(step(sm, op(), status(conf(0, [A, B, C]), B))).toMatchObject({ command: { outcome: "succeeded" } })
  })

  it("gives up when someone else took over, or on timeout", () => {
    const a = setup(transfer)
    expect(step(a.sm, a.op(), status(conf(0, [A, B, C]), C))).toMatchObject({
      command: { _tag: "RollbackOperator", cause: "superseded" },
    })
    expect(step(a.sm, a.op(), status(conf(0, [A, B, C]), C))).toMatchObject({
      command: { outcome: "rolled-back" },
    })
    const b = setup(transfer)
    expect(tagOf(step(b.sm, b.op(), status(conf(0, [A, B, C]), A), b.op().deadline))).toBe("TimeoutOperator")
  })
})
