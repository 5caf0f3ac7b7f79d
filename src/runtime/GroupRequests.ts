/**
 * Serving requests addressed to a group (its subject, its batch subject, `Node.request`).
 * Requests are handled synchronously where they arrive: classified by the group's
 * `ShardKind`, checked against the group's hash slots, and queued in the replica's mailbox,
 * to be answered from an engine round, with no fiber or stream per request. This is the hot
 * path of every client request.
 */
import type { GroupId } from "../raft/Ids.js"
import type { BusMessage } from "../transport/Bus.js"
import type { MailboxItem, Waiter } from "./Mailbox.js"
import type { NodeContext } from "./NodeContext.js"
import { decodeBatch, encodeBatch, encodeBatchError, encodeBatchTooLarge } from "./RequestBatch.js"
import { BadRequest, Overloaded, WrongShard } from "./RuntimeErrors.js"
import { clientOfReply } from "./SessionOpens.js"
import type { ShardKind } from "./ShardKind.js"

/**
 * Routes one request through the group's kind; `reply` gets the answer bytes (exactly once).
 * `client` (a reply-subject prefix) is who session opens are rate-limited by.
 */
export const serveRequest = (
  ctx: NodeContext,
  groupId: GroupId,
  data: Uint8Array,
  nowMs: number,
  reply: (b: Uint8Array) => void,
  client = "",
): void => {
  const r = ctx.engine.replicas.get(groupId)
  const kind = r?.kind ?? ctx.kinds.kindFor(groupId)
  let routed: ReturnType<ShardKind["route"]>
  try {
    routed = kind.route(data, nowMs)
  } catch (e) {
    reply(kind.encodeError(new BadRequest({ reason: `request could not be decoded: ${String(e)}` })))
    return
  }
  if (routed._tag === "Reply") {
    reply(routed.reply)
    return
  }
  if (routed.slot !== undefined && ctx.config.ownsSlot?.(groupId, routed.slot) === false) {
    reply(kind.encodeError(new WrongShard({ groupId, slot: routed.slot })))
    return
  }
  if (
    routed._tag === "Command" &&
    routed.opensSession === true &&
    !ctx.sessionOpens.admit(groupId, client, nowMs)
  ) {
    reply(
      kind.encodeError(
        new Overloaded({
          groupId,
          capacity: ctx.sessionOpens.limits.perClient,
          reason: "session opens rate-limited",
        }),
      ),
    )
    return
  }
  const waiter: Waiter = { succeed: reply, fail: (err) => reply(kind.encodeError(err)) }
  const item: MailboxItem =
    routed._tag === "Command"
      ? { _tag: "Command", command: routed.command, waiter }
      : { _tag: "Query", query: routed.query, stale: routed.stale, waiter }
  ctx.engine.submit(groupId, item)
}

/** A message on the group subject: its answer joins the replies of the loop's next flush. */
export const serveMessage = (ctx: NodeContext, groupId: GroupId, msg: BusMessage): void => {
  serveRequest(
    ctx,
    groupId,
    msg.data,
    ctx.nowMs(),
    (data) => ctx.replies.push(msg, data),
    clientOfReply(msg.reply),
  )
  ctx.wake.raise()
}

/**
 * A message on the group's batch subject: many requests, answered in one message once every
 * one of them is (RequestBatch.ts); a malformed batch is answered with an error at once.
 */
export const serveBatchMessage = (ctx: NodeContext, groupId: GroupId, msg: BusMessage): void => {
  const parts = decodeBatch(msg.data)
  if (typeof parts === "string") {
    ctx.replies.push(msg, encodeBatchError(parts))
  } else {
    const answers: Uint8Array[] = new Array(parts.length)
    let missing = parts.length
    const now = ctx.nowMs()
    const client = clientOfReply(msg.reply)
    parts.forEach((part, i) => {
      serveRequest(
        ctx,
        groupId,
        part,
        now,
        (data) => {
          answers[i] = data
          if (--missing === 0) {
            const reply = encodeBatch(answers)
            ctx.replies.push(msg, reply.length > ctx.bus.maxPayload() ? encodeBatchTooLarge() : reply)
          }
        },
        client,
      )
    })
  }
  ctx.wake.raise()
}
