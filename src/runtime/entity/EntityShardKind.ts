/**
 * The `ShardKind` of an entity kind: how the node runtime makes a group's state machine and
 * serves the raw requests that arrive on the group subject (`flotilla.<c>.group.<gid>`).
 *
 * Routing, per request (never throws; bad bytes are answered at once and never enter the log):
 * - writes (commands, session open/close) are proposed, STAMPED WITH THE LEADER'S CLOCK
 *   (`Wire.stampTime`): that stamp is the shard clock that expires sessions;
 * - reads (queries, scans, counts) are answered through ReadIndex, or from the local state
 *   when the request carries `FLAG_STALE_READ`;
 * - malformed requests, and requests for another kind, get their `EntityError` reply.
 *
 * Runtime errors (not leader, overloaded, ...) are encoded as `ReplyStatus.RuntimeError`
 * replies, so a client reads every answer of an entity group in one format.
 */
import { Either } from "effect"
import type { ShardKind } from "../ShardKind.js"
import { WrongKind } from "./EntityError.js"
import type { AnyKind } from "./EntityKind.js"
import { type ShardOptions, ShardStateMachine } from "./ShardStateMachine.js"
import * as Wire from "./Wire.js"

/** The shard kind serving entity kind `kind`. `options` MUST be the same on every node. */
export const make = (kind: AnyKind, options: ShardOptions = {}): ShardKind => ({
  name: kind.name,
  make: () => ShardStateMachine.make(kind, options),
  route: (request, nowMs) => {
    const route = Wire.routeOf(request)
    if (Either.isLeft(route)) return { _tag: "Reply", reply: Wire.errorReply(route.left) }
    if (route.right.kind !== kind.name)
      return {
        _tag: "Reply",
        reply: Wire.errorReply(new WrongKind({ expected: kind.name, actual: route.right.kind })),
      }
    // The slot lets the node refuse a request for a key its group does not own (WrongShard).
    const slot = route.right.slot
    if (route.right.write)
      return {
        _tag: "Command",
        command: Wire.stampTime(request, Math.max(0, Math.floor(nowMs))),
        slot,
        opensSession: route.right.type === "openSession",
      }
    return { _tag: "Query", query: request, stale: route.right.staleRead, slot }
  },
  encodeError: Wire.runtimeErrorReply,
})
