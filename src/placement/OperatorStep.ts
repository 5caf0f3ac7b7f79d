/**
 * The operator step function: given an operator in flight, the metadata group's state, the
 * group's status from the latest reports and the time, the ONE next action the driver must
 * take. It keeps no memory of its own: the next action is derived from what the group has
 * applied, so a driver that restarts (or a new metadata leader) simply asks again. Repeating
 * an action is harmless: a configuration change that is already applied shows in the next
 * report and the function moves on.
 *
 * Sequences (each arrow is one action, taken once the reports show the previous one applied):
 * - add: allocate replica L (meta) → AddLearner(L) → wait until L is caught up → AddNode(L).
 * - move from O: as add, but the promotion is one joint change {AddNode(L), AddLearner(O)}
 *   left automatically → RemoveNode(O). A leader about to be demoted or removed hands
 *   leadership to the most caught-up other voter first; when O leads a group of one voter, L
 *   is promoted alone first (AddNode(L)), leadership passes to it, then O is removed.
 * - remove R: transfer leadership away if R leads → RemoveNode(R).
 * - transfer to T: TransferLeader(T) until T leads.
 *
 * Rollback: a running operator past its deadline, or whose target node stops being usable, is
 * aborted (TimeoutOperator / RollbackOperator); rolling back removes the new learner and
 * releases its allocation. THE POINT OF NO RETURN is the new replica becoming a voter: from
 * there an operator always completes, even when rolling back. A joint configuration is never
 * abandoned halfway: it is left (automatically, or by an explicit leave-joint change).
 *
 * Before every group action whose step differs from the recorded one, the function asks the
 * driver to record the step (StepOperator), so the operator list shows where each operator is.
 * Whenever the reports show a newer configuration than the one recorded, it asks the driver
 * to record it (RecordMembership) first.
 */
import { isAlive, type NodeHealth, nodeHealth } from "../meta/Allocation.js"
import { type ClusterState, findGroup, findNode, type GroupRecord } from "../meta/ClusterState.js"
import type { MetaCommand } from "../meta/MetaCommand.js"
import type { OperatorRecord } from "../meta/Operator.js"
import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  confChange,
  leaveJoint,
} from "../raft/ConfChange.js"
import { type GroupId, type NodeId, nodeOfReplica } from "../raft/Ids.js"
import type { ReplicaId } from "../raft/Types.js"
import { type GroupStatus, isJoint, isLearnerIn, isMemberOf, type Membership } from "./LoadReport.js"

/** What the driver does next for one operator. */
export type OperatorAction =
  /** Propose this command to the metadata group. */
  | { readonly _tag: "ProposeMeta"; readonly command: MetaCommand }
  /** Propose this configuration change to the group's leader. */
  | {
      readonly _tag: "ChangeMembership"
      readonly group: GroupId
      readonly change: ConfChange
      readonly step: string
    }
  /** Ask the group's leader to hand leadership to `to`. */
  | {
      readonly _tag: "TransferLeadership"
      readonly group: GroupId
      readonly to: ReplicaId
      readonly step: string
    }
  /** Nothing to do until the reports change. */
  | { readonly _tag: "Wait"; readonly reason: string }

/** See the module comment. */
export const nextAction = (
  op: OperatorRecord,
  state: ClusterState,
  status: GroupStatus | undefined,
  now: number,
): OperatorAction => {
  const group = findGroup(state, op.spec.group)
  if (group === undefined) {
    return op.status === "running" ? abort(op, "unknown-group", now) : finish(op, "rolled-back", now)
  }
  const m = status?.membership
  if (m !== undefined && m.confVersion > group.confVersion) return recordMembership(group.id, m)
  const ctx: Context = { op, state, group, status, membership: m, now, due: now >= op.deadline }
  switch (op.spec._tag) {
    case "AddReplica":
      return stepAdd(ctx, op.spec.node, undefined)
    case "MoveReplica":
      return stepAdd(ctx, op.spec.node, op.spec.from)
    case "RemoveReplica":
      return stepRemove(ctx, op.spec.replica)
    case "TransferLeader":
      return stepTransfer(ctx, op.spec.from, op.spec.to)
  }
}

interface Context {
  readonly op: OperatorRecord
  readonly state: ClusterState
  readonly group: GroupRecord
  readonly status: GroupStatus | undefined
  readonly membership: Membership | undefined
  readonly now: number
  /** The operator's deadline has passed. */
  readonly due: boolean
}

const meta = (command: MetaCommand): OperatorAction => ({ _tag: "ProposeMeta", command })
const wait = (reason: string): OperatorAction => ({ _tag: "Wait", reason })

const finish = (op: OperatorRecord, outcome: "succeeded" | "rolled-back", now: number) =>
  meta({ _tag: "FinishOperator", id: op.id, outcome, at: now })

const abort = (op: OperatorRecord, cause: string, now: number) =>
  cause === "timeout"
    ? meta({ _tag: "TimeoutOperator", id: op.id, at: now })
    : meta({ _tag: "RollbackOperator", id: op.id, cause, at: now })

const recordMembership = (group: GroupId, m: Membership) =>
  meta({
    _tag: "RecordMembership",
    group,
    confVersion: m.confVersion,
    voters: m.voters,
    learners: m.learners,
    votersOutgoing: m.votersOutgoing,
    learnersNext: m.learnersNext,
  })

/** A group action, preceded by recording its step name when that changes. */
const groupAction = (ctx: Context, action: Exclude<OperatorAction, { _tag: "ProposeMeta" | "Wait" }>) =>
  ctx.op.step === action.step
    ? action
    : meta({ _tag: "StepOperator", id: ctx.op.id, step: action.step, at: ctx.now })

const change = (
  ctx: Context,
  step: string,
  changes: ReadonlyArray<readonly [ConfChangeType, ReplicaId]>,
  transition: ConfChangeTransition = ConfChangeTransition.Auto,
) =>
  groupAction(ctx, {
    _tag: "ChangeMembership",
    group: ctx.group.id,
    change: confChange(
      changes.map(([type, nodeId]) => ({ type, nodeId })),
      transition,
    ),
    step,
  })

const healthOf = (ctx: Context, node: NodeId): NodeHealth => {
  const n = findNode(ctx.state, node)
  return n === undefined ? "removed" : nodeHealth(n, ctx.state.settings, ctx.now)
}

/** In a joint configuration: wait for the automatic leave, or ask for it. */
const leaveJointStep = (ctx: Context, m: Membership) =>
  m.autoLeave
    ? wait("leaving the joint configuration")
    : groupAction(ctx, {
        _tag: "ChangeMembership",
        group: ctx.group.id,
        change: leaveJoint(),
        step: "leave-joint",
      })

/** The most caught-up alive voter other than `leader` (lowest id on ties), if any. */
const successor = (ctx: Context, m: Membership, leader: ReplicaId): ReplicaId | undefined => {
  const applied = ctx.status?.applied
  let best: ReplicaId | undefined
  for (const v of m.voters) {
    if (v === leader || !isAlive(healthOf(ctx, nodeOfReplica(v)))) continue
    const a = applied?.get(v) ?? -1
    const b = best === undefined ? -2 : (applied?.get(best) ?? -1)
    if (a > b || (a === b && v < best!)) best = v
  }
  return best
}

/** Hands leadership from `leader` to its `successor`. */
const transferAway = (ctx: Context, m: Membership, leader: ReplicaId): OperatorAction => {
  const to = successor(ctx, m, leader)
  if (to === undefined) return wait("no voter to hand leadership to")
  return groupAction(ctx, { _tag: "TransferLeadership", group: ctx.group.id, to, step: "transfer-leader" })
}

const caughtUp = (ctx: Context, replica: ReplicaId): boolean => {
  const s = ctx.status
  const applied = s?.applied.get(replica)
  return (
    s !== undefined &&
    applied !== undefined &&
    applied + ctx.state.settings.catchUpLagEntries >= s.leaderApplied
  )
}

/** Add (from undefined) or move (from the replica leaving). */
const stepAdd = (ctx: Context, node: NodeId, from: ReplicaId | undefined): OperatorAction => {
  const { op, group, now } = ctx
  const running = op.status === "running"
  const learner = op.newReplica
  if (learner === 0) {
    if (!running) return finish(op, "rolled-back", now)
    if (ctx.due) return abort(op, "timeout", now)
    if (healthOf(ctx, node) !== "up") return abort(op, "target-unavailable", now)
    return meta({ _tag: "AddLearner", group: group.id, node, operator: op.id })
  }
  const m = ctx.membership
  if (m === undefined) {
    const pastNoReturn = group.replicas.some((r) => r.id === learner && r.role === "voter")
    return running && ctx.due && !pastNoReturn ? abort(op, "timeout", now) : wait("no report from a leader")
  }
  if (isJoint(m)) return leaveJointStep(ctx, m)
  if (!m.voters.includes(learner)) {
    if (!running) return rollBackLearner(ctx, m, learner)
    if (ctx.due) return abort(op, "timeout", now)
    if (!isAlive(healthOf(ctx, node))) return abort(op, "target-unavailable", now)
    const fromVoter = from !== undefined && m.voters.includes(from)
    if (!isLearnerIn(m, learner)) {
      if (from !== undefined && !fromVoter) return abort(op, "superseded", now)
      return change(ctx, "add-learner", [[ConfChangeType.AddLearner, learner]])
    }
    if (!caughtUp(ctx, learner)) return wait("learner catching up")
    if (!fromVoter) return change(ctx, "promote", [[ConfChangeType.AddNode, learner]])
    if (ctx.status?.leader === from) {
      // The leader leaves: hand leadership over first. With no other voter to take it (a group
      // of one), promote the learner alone; leadership moves to it in the next step.
      if (successor(ctx, m, from) === undefined)
        return change(ctx, "promote", [[ConfChangeType.AddNode, learner]])
      return transferAway(ctx, m, from)
    }
    return change(
      ctx,
      "promote",
      [
        [ConfChangeType.AddNode, learner],
        [ConfChangeType.AddLearner, from],
      ],
      ConfChangeTransition.JointImplicit,
    )
  }
  // The new replica votes: past the point of no return, complete whatever the status.
  if (from !== undefined && isMemberOf(m, from)) {
    if (ctx.status?.leader === from) return transferAway(ctx, m, from)
    return change(ctx, "remove-old", [[ConfChangeType.RemoveNode, from]])
  }
  if (group.confVersion > m.confVersion) return wait("report older than the record")
  return finish(op, "succeeded", now)
}

/** Rolling back an add or move before its point of no return: take the new learner out again. */
const rollBackLearner = (ctx: Context, m: Membership, learner: ReplicaId): OperatorAction => {
  if (isLearnerIn(m, learner)) return change(ctx, "remove-new", [[ConfChangeType.RemoveNode, learner]])
  const recorded = ctx.group.replicas.find((r) => r.id === learner)
  if (recorded?.role === "joining") {
    return meta({ _tag: "DropReplica", group: ctx.group.id, replica: learner, confVersion: 0 })
  }
  if (recorded !== undefined) return wait("report older than the record")
  return finish(ctx.op, "rolled-back", ctx.now)
}

const stepRemove = (ctx: Context, replica: ReplicaId): OperatorAction => {
  const { op, group, now } = ctx
  const running = op.status === "running"
  const m = ctx.membership
  if (m === undefined) return running && ctx.due ? abort(op, "timeout", now) : wait("no report from a leader")
  if (isJoint(m)) return leaveJointStep(ctx, m)
  if (isMemberOf(m, replica)) {
    if (!running) return finish(op, "rolled-back", now)
    if (ctx.due) return abort(op, "timeout", now)
    if (ctx.status?.leader === replica) return transferAway(ctx, m, replica)
    return change(ctx, "remove", [[ConfChangeType.RemoveNode, replica]])
  }
  const recorded = group.replicas.find((r) => r.id === replica)
  if (recorded?.role === "joining") {
    return meta({ _tag: "DropReplica", group: group.id, replica, confVersion: 0 })
  }
  if (recorded !== undefined) return wait("report older than the record")
  return finish(op, "succeeded", now)
}

const stepTransfer = (ctx: Context, from: ReplicaId, to: ReplicaId): OperatorAction => {
  const { op, now } = ctx
  const running = op.status === "running"
  const leader = ctx.status?.leader ?? 0
  if (leader === to) return finish(op, "succeeded", now)
  if (!running) return finish(op, "rolled-back", now)
  if (ctx.due) return abort(op, "timeout", now)
  if (leader === 0) return wait("no report from a leader")
  const m = ctx.membership
  if ((m !== undefined && !m.voters.includes(to)) || !isAlive(healthOf(ctx, nodeOfReplica(to)))) {
    return abort(op, "target-unavailable", now)
  }
  if (leader !== from) return abort(op, "superseded", now)
  return groupAction(ctx, { _tag: "TransferLeadership", group: ctx.group.id, to, step: "transfer" })
}
