/**
 * Command handlers for operator records: start, step, finish, roll back, time out. The
 * metadata group is the arbiter of the rule AT MOST ONE OPERATOR IN FLIGHT PER GROUP: a start
 * that would break it is refused, whatever the planner that proposed it believed.
 */
import { nodeOfReplica } from "../raft/Ids.js"
import {
  bisect,
  type ClusterState,
  findGroup,
  findNode,
  OPERATOR_HISTORY,
  replaceAt,
} from "./ClusterState.js"
import { accept, type CommandOutcome, refuse } from "./CommandOutcome.js"
import {
  type FinishOperator,
  OperatorStarted,
  type RollbackOperator,
  type StartOperator,
  type StepOperator,
  type TimeoutOperator,
} from "./MetaCommand.js"
import {
  InvalidArgument,
  type MetaError,
  NodeUnavailable,
  OperatorConflict,
  OperatorMismatch,
  ReplicaExists,
  UnknownGroup,
  UnknownNode,
  UnknownOperator,
  UnknownReplica,
} from "./MetaErrors.js"
import type { OperatorRecord, OperatorSpec } from "./Operator.js"

const MAX_STEP_NAME = 64
const MAX_CAUSE = 256

/** Why `spec` cannot start on `state`, if it cannot. */
const checkSpec = (state: ClusterState, spec: OperatorSpec): MetaError | undefined => {
  const group = findGroup(state, spec.group)
  if (group === undefined) return new UnknownGroup({ group: spec.group })
  const busy = state.operators.find((o) => o.spec.group === spec.group)
  if (busy) return new OperatorConflict({ group: spec.group, operator: busy.id })
  const member = (id: number, voter: boolean) =>
    group.replicas.some((r) => r.id === id && (voter ? r.role === "voter" : r.role !== "joining"))
  switch (spec._tag) {
    case "AddReplica":
    case "MoveReplica": {
      if (spec._tag === "MoveReplica" && !member(spec.from, false)) {
        return new UnknownReplica({ group: group.id, replica: spec.from })
      }
      const node = findNode(state, spec.node)
      if (node === undefined) return new UnknownNode({ node: spec.node })
      if (node.state !== "up") return new NodeUnavailable({ node: node.id, state: node.state })
      const there = group.replicas.find((r) => nodeOfReplica(r.id) === node.id)
      if (there) return new ReplicaExists({ group: group.id, node: node.id, replica: there.id })
      return undefined
    }
    case "RemoveReplica":
      return group.replicas.some((r) => r.id === spec.replica)
        ? undefined
        : new UnknownReplica({ group: group.id, replica: spec.replica })
    case "TransferLeader":
      if (!member(spec.from, true)) return new UnknownReplica({ group: group.id, replica: spec.from })
      if (!member(spec.to, true) || spec.to === spec.from) {
        return new UnknownReplica({ group: group.id, replica: spec.to })
      }
      return undefined
  }
}

/** Records a new operator and gives it an id and a deadline. */
export const applyStartOperator = (state: ClusterState, cmd: typeof StartOperator.Type): CommandOutcome => {
  const bad = checkSpec(state, cmd.spec)
  if (bad) return refuse(state, bad)
  const timeout =
    cmd.spec._tag === "TransferLeader" ? state.settings.transferTimeoutMs : state.settings.operatorTimeoutMs
  const record: OperatorRecord = {
    id: state.nextOperatorId,
    spec: cmd.spec,
    status: "running",
    step: "",
    newReplica: 0 as OperatorRecord["newReplica"],
    startedAt: cmd.at,
    updatedAt: cmd.at,
    deadline: cmd.at + timeout,
    cause: "",
  }
  const next: ClusterState = {
    ...state,
    nextOperatorId: state.nextOperatorId + 1,
    operators: [...state.operators, record],
  }
  return accept(next, OperatorStarted.make({ id: record.id, deadline: record.deadline }))
}

const lookup = (state: ClusterState, id: number): { at: number; op: OperatorRecord } | UnknownOperator => {
  const at = bisect(state.operators, id, (o) => o.id)
  const op = state.operators[at]
  return op === undefined ? new UnknownOperator({ id }) : { at, op }
}

const withOperator = (state: ClusterState, at: number, op: OperatorRecord): ClusterState => ({
  ...state,
  operators: replaceAt(state.operators, at, op),
})

/** Records the step an operator reached. */
export const applyStepOperator = (state: ClusterState, cmd: typeof StepOperator.Type): CommandOutcome => {
  const found = lookup(state, cmd.id)
  if (found instanceof UnknownOperator) return refuse(state, found)
  if (cmd.step.length > MAX_STEP_NAME) {
    return refuse(state, new InvalidArgument({ message: `step name longer than ${MAX_STEP_NAME}` }))
  }
  const op = found.op
  return accept(
    withOperator(state, found.at, { ...op, step: cmd.step, updatedAt: Math.max(op.updatedAt, cmd.at) }),
  )
}

/** Ends an operator and moves it to the bounded history. */
export const applyFinishOperator = (state: ClusterState, cmd: typeof FinishOperator.Type): CommandOutcome => {
  const found = lookup(state, cmd.id)
  if (found instanceof UnknownOperator) return refuse(state, found)
  const op = found.op
  if (op.status === "running" && cmd.outcome !== "succeeded") {
    return refuse(state, new OperatorMismatch({ id: op.id, message: "a running operator can only succeed" }))
  }
  const adds = op.spec._tag === "AddReplica" || op.spec._tag === "MoveReplica"
  if (cmd.outcome === "succeeded" && adds && op.newReplica === 0) {
    return refuse(state, new OperatorMismatch({ id: op.id, message: "no replica was added" }))
  }
  const done: OperatorRecord = { ...op, status: cmd.outcome, updatedAt: Math.max(op.updatedAt, cmd.at) }
  const history = [...state.history, done]
  const next: ClusterState = {
    ...state,
    operators: state.operators.filter((o) => o.id !== op.id),
    history: history.length > OPERATOR_HISTORY ? history.slice(history.length - OPERATOR_HISTORY) : history,
  }
  return accept(next)
}

const startRollback = (
  state: ClusterState,
  id: number,
  cause: string,
  at: number,
  due: boolean,
): CommandOutcome => {
  const found = lookup(state, id)
  if (found instanceof UnknownOperator) return refuse(state, found)
  const op = found.op
  if (op.status !== "running") {
    return refuse(state, new OperatorMismatch({ id: op.id, message: `operator is ${op.status}` }))
  }
  if (due && at < op.deadline) {
    return refuse(state, new OperatorMismatch({ id: op.id, message: `deadline ${op.deadline} not reached` }))
  }
  if (cause.length === 0 || cause.length > MAX_CAUSE) {
    return refuse(state, new InvalidArgument({ message: `cause must have 1..${MAX_CAUSE} characters` }))
  }
  const rolling: OperatorRecord = {
    ...op,
    status: "rolling-back",
    cause,
    updatedAt: Math.max(op.updatedAt, at),
  }
  return accept(withOperator(state, found.at, rolling))
}

/** Starts rolling back a running operator. */
export const applyRollbackOperator = (
  state: ClusterState,
  cmd: typeof RollbackOperator.Type,
): CommandOutcome => startRollback(state, cmd.id, cmd.cause, cmd.at, false)

/** Starts rolling back a running operator past its deadline. */
export const applyTimeoutOperator = (state: ClusterState, cmd: typeof TimeoutOperator.Type): CommandOutcome =>
  startRollback(state, cmd.id, "timeout", cmd.at, true)
