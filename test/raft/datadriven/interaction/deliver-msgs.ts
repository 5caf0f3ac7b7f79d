/**
 * `deliver-msgs <id>... [drop=(ids)] [type=MsgX]`: steps the messages waiting for each replica
 * (only those of type `MsgX` with `type=`); `drop=` discards the inboxes of those replicas instead.
 */
import { describeMessage } from "../../../../src/raft/Describe.js"
import { messageTypeName, type ReplicaId } from "../../../../src/raft/Types.js"
import { type Handler, ids } from "./Env.js"

export const deliverMsgs: Handler = (env, cmd) => {
  const out: string[] = []
  const inbox = env.cluster.inbox
  for (const d of ids(cmd.kv.get("drop"))) {
    for (const m of inbox.get(d as ReplicaId) ?? []) out.push(`dropped: ${describeMessage(m)}`)
    inbox.set(d as ReplicaId, [])
  }
  const type = cmd.kv.get("type")
  for (const a of cmd.args)
    env.deliver(Number(a), out, type === undefined ? undefined : (m) => messageTypeName(m.type) === type)
  return out.join("\n")
}
