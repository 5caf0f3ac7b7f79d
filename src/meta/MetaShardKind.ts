/**
 * The runtime `ShardKind` of the metadata group (group 0): its state machine is
 * `MetaStateMachine`, and raw requests (arriving on the meta subject through the endpoint, or
 * on group 0's own group subject) are JSON `MetaRequest`s (MetaProtocol.ts):
 *
 * - queries go through ReadIndex on the leader (linearizable), or are answered from the local
 *   state when they say `stale: true`;
 * - commands are proposed WITH THE LEADER'S CLOCK STAMPED IN (`at`), so the log holds the time
 *   every replica judges liveness and deadlines by;
 * - malformed requests get a `MalformedRequest` answer at once and never reach the log;
 * - heartbeats are the endpoint's business (MetaEndpoint.ts): here they are refused with an
 *   explanation, since only the endpoint keeps the load reports.
 *
 * Runtime errors (`NotLeader`, `Overloaded`, ...) are answered as their JSON encoding.
 */
import { Either } from "effect"
import { type BadRequest, type RuntimeError, RuntimeErrorSchema } from "../runtime/RuntimeErrors.js"
import type { ShardKind } from "../runtime/ShardKind.js"
import { META_KIND } from "./ClusterState.js"
import { encodeJson } from "./JsonCodec.js"
import { encodeCommand, encodeResponse } from "./MetaCommand.js"
import { InvalidArgument } from "./MetaErrors.js"
import { classify, decodeRequest } from "./MetaProtocol.js"
import { encodeQuery } from "./MetaQuery.js"
import { MetaStateMachine } from "./MetaStateMachine.js"

const encodeRuntimeError: (e: RuntimeError | BadRequest) => Uint8Array = encodeJson(RuntimeErrorSchema)

/** The metadata group's shard kind. */
export const metaShardKind: ShardKind = {
  name: META_KIND,
  make: () => new MetaStateMachine(),
  route: (request, nowMs) => {
    const decoded = decodeRequest(request)
    if (Either.isLeft(decoded)) return { _tag: "Reply", reply: encodeResponse(decoded.left) }
    const c = classify(decoded.right, nowMs)
    switch (c._tag) {
      case "Query":
        return { _tag: "Query", query: encodeQuery(c.query), stale: c.stale }
      case "Command":
        return { _tag: "Command", command: encodeCommand(c.command) }
      case "Heartbeat":
        return {
          _tag: "Reply",
          reply: encodeResponse(
            new InvalidArgument({
              message: "heartbeats are served by the metadata leader on the meta subject only",
            }),
          ),
        }
    }
  },
  encodeError: encodeRuntimeError,
}
