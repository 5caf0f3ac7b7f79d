/**
 * The calls a node takes for one of its groups: proposals, reads, raw requests, membership
 * changes and leadership transfers. Each queues its work with the engine and wakes the loop;
 * the caller is answered from the round that applies (or refuses) it.
 */
import { Effect } from "effect"
import type { ConfChange } from "../raft/ConfChange.js"
import type { InvalidConfChange } from "../raft/Errors.js"
import type { GroupId } from "../raft/Ids.js"
import type { ReplicaId } from "../raft/Types.js"
import { serveRequest } from "./GroupRequests.js"
import type { MailboxItem, Waiter } from "./Mailbox.js"
import type { NodeContext } from "./NodeContext.js"
import { GroupNotFound, NodeStopping, NotLeader, ProposalFailed, type RuntimeError } from "./RuntimeErrors.js"
import { decodeSnapshotRead, type SnapshotRead } from "./SnapshotRead.js"

/** Queues a mailbox item made around the caller's waiter; fails at once while the node stops. */
const submit = (ctx: NodeContext, groupId: GroupId, make: (w: Waiter) => MailboxItem) =>
  Effect.async<Uint8Array, RuntimeError>((resume) => {
    if (ctx.engine.stopping) {
      resume(Effect.fail(new NodeStopping({ nodeId: ctx.nodeId })))
      return
    }
    ctx.engine.submit(
      groupId,
      make({ succeed: (b) => resume(Effect.succeed(b)), fail: (e) => resume(Effect.fail(e)) }),
    )
    ctx.wake.raise()
  })

/** Replicates `command`; succeeds with the state machine's reply once applied. */
export const propose = (ctx: NodeContext, groupId: GroupId, command: Uint8Array) =>
  submit(ctx, groupId, (waiter) => ({ _tag: "Command", command, waiter }))

/** Reads through the state machine: linearizable (ReadIndex) unless `stale`. */
export const read = (ctx: NodeContext, groupId: GroupId, query: Uint8Array, stale: boolean) =>
  submit(ctx, groupId, (waiter) => ({ _tag: "Query", query, stale, waiter }))

/** The whole state of the group at a linearizable read point (this replica must lead). */
export const readSnapshot = (ctx: NodeContext, groupId: GroupId): Effect.Effect<SnapshotRead, RuntimeError> =>
  Effect.map(
    submit(ctx, groupId, (waiter) => ({ _tag: "SnapshotRead", waiter })),
    decodeSnapshotRead,
  )

/** Serves one raw request as the group subject does (errors encoded by the group's kind). */
export const request = (ctx: NodeContext, groupId: GroupId, data: Uint8Array): Effect.Effect<Uint8Array> =>
  Effect.async<Uint8Array>((resume) => serve(ctx, groupId, data, (b) => resume(Effect.succeed(b))))

/** `request` without an effect: `answer` is called once with the reply (no fiber, no timer). */
export const serve = (
  ctx: NodeContext,
  groupId: GroupId,
  data: Uint8Array,
  answer: (reply: Uint8Array) => void,
): void => {
  serveRequest(ctx, groupId, data, ctx.nowMs(), answer)
  ctx.wake.raise()
}

/** Proposes a membership change; succeeds once it is applied here. */
export const proposeConfChange = (
  ctx: NodeContext,
  groupId: GroupId,
  cc: ConfChange,
): Effect.Effect<void, RuntimeError | InvalidConfChange> =>
  Effect.async<void, RuntimeError | InvalidConfChange>((resume) => {
    const r = ctx.engine.withReplica(groupId, (rep) => ({ rep, res: rep.raw.proposeConfChange(cc) }))
    if (r === undefined) {
      resume(Effect.fail(new GroupNotFound({ groupId, nodeId: ctx.nodeId })))
      return
    }
    const res = r.res
    if (res._tag === "InvalidConfChange") resume(Effect.fail(res))
    else if (res._tag === "ProposalDropped") {
      resume(Effect.fail(new ProposalFailed({ groupId, reason: res.reason })))
    } else {
      r.rep.awaitIndex(res.index, res.term, {
        succeed: () => resume(Effect.void),
        fail: (e) => resume(Effect.fail(e)),
      })
    }
    ctx.wake.raise()
  })

/** Asks the group's leader to hand leadership to `to`. */
export const transferLeader = (
  ctx: NodeContext,
  groupId: GroupId,
  to: ReplicaId,
): Effect.Effect<void, RuntimeError> =>
  Effect.suspend((): Effect.Effect<void, RuntimeError> => {
    const r = ctx.engine.withReplica(groupId, (rep) => {
      const dropped = rep.raw.transferLeader(to)
      if (dropped?.reason === "NotLeader" || dropped?.reason === "NoLeader")
        return new NotLeader({ groupId, leaderHint: rep.leaderNode() })
      return dropped === undefined ? undefined : new ProposalFailed({ groupId, reason: dropped.reason })
    })
    ctx.wake.raise()
    if (r === undefined && !ctx.engine.replicas.has(groupId))
      return Effect.fail(new GroupNotFound({ groupId, nodeId: ctx.nodeId }))
    return r === undefined ? Effect.void : Effect.fail(r)
  })
