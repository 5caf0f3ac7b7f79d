/**
 * The placement driver: the thin Effect loop that runs the pure planner and operator step
 * function (Planner.ts, OperatorStep.ts, Reconcile.ts) against the live cluster. It runs only
 * on the node leading the metadata group (group 0), and stops AT ONCE when that node stops
 * leading (`whileLeader`); a new leader's driver takes over every operator in flight from the
 * records in the metadata group (docs/decisions/0031).
 *
 * Each pass, every `intervalMs`:
 * 1. confirm leadership and catch up: a linearizable read of group 0 (ReadIndex: a quorum
 *    still follows us, and the local state machine has applied everything committed before
 *    the read), then read the state from the local replica;
 * 2. record heartbeats for nodes that reported (the leader's time of arrival; at most one per
 *    node per quarter of the heartbeat timeout, and at once for a node recorded `down`);
 * 3. record `down` for silent nodes, and the memberships and leaders the reports show;
 *    until warm (every node recorded up or draining reported since this leadership began, or
 *    `warmupMs` passed), only memberships and leaders: the recorded heartbeats may be as old as
 *    the failover, and health judged on them would roll back operators for nothing;
 * 4. for each operator in flight, `nextAction` and carry it out: meta commands are proposed to
 *    group 0 here; configuration changes and leader transfers go to the admin endpoint of the
 *    node leading the group (NodeAdmin.ts), in the background, and are not repeated while the
 *    reports do not show their effect yet (unless `retryMs` passed since the last attempt);
 * 5. `plan` and `StartOperator` for each operator it returns.
 *
 * Load reports come from `MetaReports` (the heartbeats the endpoint received: memory only).
 * Only reports from nodes alive at the time of the pass and younger than the heartbeat
 * timeout count. A report whose configuration is older than the one recorded is ignored for
 * that group's operator (reports lag the record by up to one heartbeat).
 */
import { Clock, Effect, Either, Layer, type Scope } from "effect"
import { isAlive, nodeHealth } from "../meta/Allocation.js"
import { type ClusterState, findGroup, findNode, META_GROUP, type Settings } from "../meta/ClusterState.js"
import { decodeResponse, encodeCommand, type MetaCommand, type MetaResponse } from "../meta/MetaCommand.js"
import { encodeQuery } from "../meta/MetaQuery.js"
import type { NodeLoad } from "../meta/NodeReport.js"
import { describeOperator, type OperatorSpec } from "../meta/Operator.js"
import { type GroupStatus, groupStatuses } from "../placement/LoadReport.js"
import { nextAction, type OperatorAction } from "../placement/OperatorStep.js"
import { plan } from "../placement/Planner.js"
import { leaderHintUpdates, membershipUpdates, nodeStateUpdates } from "../placement/Reconcile.js"
import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  describeConfChange,
} from "../raft/ConfChange.js"
import { type NodeId, nodeOfReplica } from "../raft/Ids.js"
import { Node, type NodeService } from "../runtime/Node.js"
import type { RuntimeError } from "../runtime/RuntimeErrors.js"
import { supervise } from "../runtime/Supervisor.js"
import { Bus, type BusService } from "../transport/Bus.js"
import { localMetaState, MetaReports, type MetaReportsService, type ReportEntry } from "./MetaEndpoint.js"
import { type AdminRequest, adminSubject } from "./NodeAdmin.js"
import { note } from "./NodeObservations.js"
import { whileLeader } from "./WhileLeader.js"

/** Options of the driver. */
export interface DriverOptions {
  readonly cluster: string
  readonly subjectPrefix?: string
  /** Between passes (default 500 ms). */
  readonly intervalMs?: number
  /** Per admin request to a group's leader (default 10 s). */
  readonly actionTimeoutMs?: number
  /** Before repeating a group action whose effect the reports do not show (default 2 s). */
  readonly retryMs?: number
  /** A new leader plans after this long at the latest (default 3 s; earlier once every live node reported). */
  readonly warmupMs?: number
}

/** Heartbeats of a node are recorded at most this often. */
export const heartbeatRecordInterval = (settings: Settings): number =>
  Math.max(1, Math.floor(settings.heartbeatTimeoutMs / 4))

/** The reports that count at `now`: from nodes alive then, and younger than the heartbeat timeout. */
export const freshLoads = (
  state: ClusterState,
  entries: ReadonlyMap<NodeId, ReportEntry>,
  now: number,
): NodeLoad[] => {
  const out: NodeLoad[] = []
  for (const [id, e] of [...entries].sort(([a], [b]) => a - b)) {
    const rec = findNode(state, id)
    if (rec === undefined || !isAlive(nodeHealth(rec, state.settings, now))) continue
    if (now - e.receivedAt > state.settings.heartbeatTimeoutMs) continue
    out.push(e.load)
  }
  return out
}

/**
 * Whether a leader that took over at `since` has heard enough to judge health: `warmupMs` have
 * passed, or every node recorded `up` or `draining` has reported since.
 */
export const isWarm = (
  state: ClusterState,
  entries: ReadonlyMap<NodeId, ReportEntry>,
  since: number,
  now: number,
  warmupMs: number,
): boolean =>
  now - since >= warmupMs ||
  state.nodes.every(
    (n) => (n.state !== "up" && n.state !== "draining") || (entries.get(n.id)?.receivedAt ?? -1) >= since,
  )

/** `Heartbeat` commands for the reports not recorded yet (see the module comment). */
export const heartbeatUpdates = (
  state: ClusterState,
  entries: ReadonlyMap<NodeId, ReportEntry>,
): MetaCommand[] => {
  const every = heartbeatRecordInterval(state.settings)
  const out: MetaCommand[] = []
  for (const [id, e] of [...entries].sort(([a], [b]) => a - b)) {
    const rec = findNode(state, id)
    if (rec === undefined || rec.state === "removed") continue
    const at = Math.floor(e.receivedAt)
    const due = rec.state === "down" ? at > rec.stateSince : at - rec.lastHeartbeat >= every
    if (due) out.push({ _tag: "Heartbeat", node: id, at })
  }
  return out
}

const CHANGE_TYPES: Record<number, "add-voter" | "remove" | "add-learner"> = {
  [ConfChangeType.AddNode]: "add-voter",
  [ConfChangeType.RemoveNode]: "remove",
  [ConfChangeType.AddLearner]: "add-learner",
}
const TRANSITIONS: Record<number, "auto" | "joint" | "joint-explicit"> = {
  [ConfChangeTransition.Auto]: "auto",
  [ConfChangeTransition.JointImplicit]: "joint",
  [ConfChangeTransition.JointExplicit]: "joint-explicit",
}

/** The admin request carrying out a group action. */
export const adminRequestOf = (
  action: Extract<OperatorAction, { _tag: "ChangeMembership" | "TransferLeadership" }>,
): AdminRequest =>
  action._tag === "TransferLeadership"
    ? { op: "transfer-leader", group: action.group, to: action.to }
    : {
        op: "conf-change",
        group: action.group,
        changes: confChanges(action.change),
        transition: TRANSITIONS[action.change.transition]!,
      }

const confChanges = (cc: ConfChange) =>
  cc.changes.map((c) => ({ type: CHANGE_TYPES[c.type]!, replica: c.nodeId as number }))

const CONFIRM = encodeQuery({ _tag: "GetSettings" })
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** An admin reply (`{ ok, error?, message? }`); anything unreadable counts as a refusal. */
const parseAdminReply = (bytes: Uint8Array): { ok?: boolean; error?: string; message?: string } => {
  try {
    const v: unknown = JSON.parse(decoder.decode(bytes))
    return typeof v === "object" && v !== null ? v : { ok: false, error: "Unreadable" }
  } catch {
    return { ok: false, error: "Unreadable", message: "the admin reply is not JSON" }
  }
}

/** A group action sent and not yet shown by the reports. */
interface Issued {
  readonly key: string
  running: boolean
  doneAt: number
}

/** Whether a response is a success (not a `MetaError`). */
const accepted = (r: MetaResponse): boolean =>
  r._tag === "Done" ||
  r._tag === "Bootstrapped" ||
  r._tag === "NodeRegistered" ||
  r._tag === "KeyspaceCreated" ||
  r._tag === "KeyspaceDeleted" ||
  r._tag === "ReplicaAllocated" ||
  r._tag === "OperatorStarted"

/** What one leadership's driver works with. */
interface DriverContext {
  readonly node: NodeService
  readonly bus: BusService
  readonly reports: MetaReportsService
  /** Where background admin requests run: they end with the leadership. */
  readonly scope: Scope.Scope
  readonly options: DriverOptions
  readonly retryMs: number
  readonly warmupMs: number
  readonly actionTimeoutMs: number
  /** Group actions sent, by operator id. */
  readonly issued: Map<number, Issued>
}

/** The local replica's state; the pass checked it exists (a leader's replica is never removed while it leads). */
const current = (ctx: DriverContext): ClusterState => {
  const state = localMetaState(ctx.node)
  if (state === undefined) throw new Error("this node no longer hosts the metadata group")
  return state
}

const propose = (ctx: DriverContext, command: MetaCommand): Effect.Effect<MetaResponse, RuntimeError> =>
  Effect.map(ctx.node.propose(META_GROUP, encodeCommand(command)), decodeResponse)

/** Independent commands, proposed together: the engine batches them into one append. */
const proposeAll = (ctx: DriverContext, commands: ReadonlyArray<MetaCommand>) =>
  Effect.forEach(
    commands,
    (c) =>
      Effect.tap(propose(ctx, c), (r) =>
        accepted(r) ? Effect.void : Effect.logDebug(`placement: ${c._tag} refused: ${JSON.stringify(r)}`),
      ),
    { discard: true, concurrency: "unbounded" },
  )

/** The admin request for `action`, to the node leading the group; it records when it ends. */
const sendAction = (
  ctx: DriverContext,
  opId: number,
  key: string,
  entry: Issued,
  leaderNode: NodeId,
  action: Extract<OperatorAction, { _tag: "ChangeMembership" | "TransferLeadership" }>,
) => {
  const subject = adminSubject(ctx.options.cluster, leaderNode, ctx.options.subjectPrefix, "operator")
  const body = encoder.encode(JSON.stringify(adminRequestOf(action)))
  return ctx.bus.request(subject, body, { timeout: ctx.actionTimeoutMs }).pipe(
    Effect.flatMap((bytes) => {
      const reply = parseAdminReply(bytes)
      return reply.ok === true
        ? Effect.void
        : Effect.logDebug(`placement: operator ${opId}: ${key} refused: ${reply.error} ${reply.message}`)
    }),
    Effect.catchAll((e) => Effect.logDebug(`placement: operator ${opId}: ${key} failed: ${e._tag}`)),
    Effect.ensuring(
      Effect.flatMap(Clock.currentTimeMillis, (t) =>
        Effect.sync(() => {
          entry.running = false
          entry.doneAt = t
        }),
      ),
    ),
  )
}

/** Sends a group action to the node leading the group, in the background. */
const issue = (
  ctx: DriverContext,
  opId: number,
  action: Extract<OperatorAction, { _tag: "ChangeMembership" | "TransferLeadership" }>,
  status: GroupStatus | undefined,
  now: number,
) =>
  Effect.gen(function* () {
    if (status === undefined || status.leader === 0) return
    const key =
      action._tag === "ChangeMembership"
        ? `${action.step}:${describeConfChange(action.change)}`
        : `${action.step}:${action.to}`
    const last = ctx.issued.get(opId)
    if (last !== undefined && last.key === key && (last.running || now - last.doneAt < ctx.retryMs)) return
    const entry: Issued = { key, running: true, doneAt: 0 }
    ctx.issued.set(opId, entry)
    const leaderNode = nodeOfReplica(status.leader)
    yield* Effect.logDebug(`placement: operator ${opId}: ${key} on node ${leaderNode}`)
    yield* Effect.forkIn(sendAction(ctx, opId, key, entry, leaderNode, action), ctx.scope)
  })

/** Proposes an operator's meta command; false when refused (the operator waits for the next pass). */
const proposeStep = (ctx: DriverContext, opId: number, spec: OperatorSpec, c: MetaCommand) =>
  Effect.gen(function* () {
    const r = yield* propose(ctx, c)
    if (!accepted(r)) {
      yield* Effect.logDebug(`placement: operator ${opId}: ${c._tag} refused: ${JSON.stringify(r)}`)
      return false
    }
    if (c._tag === "FinishOperator" || c._tag === "RollbackOperator" || c._tag === "TimeoutOperator") {
      // An operator ends once, with `FinishOperator`: succeeded, or rolled back (failed).
      if (c._tag === "FinishOperator") {
        const ok = c.outcome === "succeeded"
        yield* note((o) => {
          if (ok) o.placement.finished++
          else o.placement.failed++
        })
      }
      yield* Effect.logInfo(
        `placement: ${c._tag === "FinishOperator" ? c.outcome : c._tag === "TimeoutOperator" ? "timed out" : `rolling back (${c.cause})`}: ${describeOperator(spec)}`,
      )
    }
    return true
  })

/** Advances one operator as far as it goes without waiting for the group. */
const drive = (ctx: DriverContext, opId: number, statuses: ReadonlyMap<number, GroupStatus>, now: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < 8; i++) {
      const state = current(ctx)
      const op = state.operators.find((o) => o.id === opId)
      if (op === undefined) return
      const group = findGroup(state, op.spec.group)
      const status = statuses.get(op.spec.group)
      const m = status?.membership
      if (group !== undefined && m !== undefined && m.confVersion < group.confVersion) return
      const action = nextAction(op, state, status, now)
      switch (action._tag) {
        case "Wait":
          return
        case "ProposeMeta":
          if (!(yield* proposeStep(ctx, opId, op.spec, action.command))) return
          break
        default:
          return yield* issue(ctx, opId, action, status, now)
      }
    }
  })

/** `StartOperator` for each operator the planner returns. */
const startPlanned = (ctx: DriverContext, loads: NodeLoad[], now: number) =>
  Effect.forEach(
    plan(current(ctx), loads, now),
    (spec) =>
      Effect.flatMap(propose(ctx, { _tag: "StartOperator", spec, at: now }), (r) =>
        r._tag === "OperatorStarted"
          ? Effect.zipRight(
              note((o) => {
                o.placement.started++
              }),
              Effect.logInfo(`placement: operator ${r.id}: ${describeOperator(spec)}`),
            )
          : Effect.logDebug(`placement: ${describeOperator(spec)} refused: ${JSON.stringify(r)}`),
      ),
    { discard: true, concurrency: "unbounded" },
  )

/** One pass (see the module comment). */
const pass = (ctx: DriverContext) =>
  Effect.gen(function* () {
    const confirmed = yield* Effect.either(ctx.node.read(META_GROUP, CONFIRM))
    if (Either.isLeft(confirmed)) return
    if (localMetaState(ctx.node)?.bootstrapped !== true) return
    const now = Math.floor(yield* Clock.currentTimeMillis)
    const entries = ctx.reports.entries()
    yield* proposeAll(ctx, heartbeatUpdates(current(ctx), entries))
    // Until every node had a chance to report to this leader, the recorded heartbeats may be
    // as old as the failover: judging health on them would mark live nodes down and roll
    // back operators whose targets only look silent. Record what the reports show, no more.
    const warm = isWarm(current(ctx), entries, ctx.reports.leaderSince(), now, ctx.warmupMs)
    if (warm) yield* proposeAll(ctx, nodeStateUpdates(current(ctx), now))
    const loads = freshLoads(current(ctx), entries, now)
    const statuses = groupStatuses(loads)
    yield* proposeAll(ctx, membershipUpdates(current(ctx), statuses))
    yield* proposeAll(ctx, leaderHintUpdates(current(ctx), statuses))
    if (!warm) return
    const inFlight = current(ctx).operators.map((o) => o.id)
    for (const id of ctx.issued.keys()) if (!inFlight.includes(id)) ctx.issued.delete(id)
    // Operators touch distinct groups: they advance side by side.
    yield* Effect.forEach(inFlight, (id) => drive(ctx, id, statuses, now), {
      discard: true,
      concurrency: "unbounded",
    })
    yield* startPlanned(ctx, loads, now)
  })

/** The driver's passes, while this node leads group 0. */
export const run = (options: DriverOptions) =>
  Effect.gen(function* () {
    const ctx: DriverContext = {
      node: yield* Node,
      bus: yield* Bus,
      reports: yield* MetaReports,
      scope: yield* Effect.scope,
      options,
      retryMs: options.retryMs ?? 2000,
      warmupMs: options.warmupMs ?? 3000,
      actionTimeoutMs: options.actionTimeoutMs ?? 10_000,
      issued: new Map(),
    }
    const intervalMs = options.intervalMs ?? 500
    yield* Effect.logInfo("placement driver: running on the metadata leader")
    yield* Effect.addFinalizer(() =>
      Effect.logInfo("placement driver: stopped (no longer the metadata leader)"),
    )
    for (;;) {
      yield* pass(ctx).pipe(
        // A runtime error (NotLeader, ...) ends the pass; the next one confirms leadership again.
        Effect.catchAll((e) => Effect.logDebug(`placement pass interrupted: ${e._tag}`)),
        Effect.catchAllDefect((d) => Effect.logError(`placement pass failed: ${String(d)}`)),
      )
      yield* Effect.sleep(intervalMs)
    }
  })

/** Runs the driver whenever this node leads the metadata group, for the layer's lifetime. */
export const layer = (options: DriverOptions): Layer.Layer<never, never, Node | Bus | MetaReports> =>
  Layer.scopedDiscard(
    Effect.forkScoped(
      supervise("placement driver", whileLeader(META_GROUP, supervise("placement driver", run(options)))),
    ),
  )
