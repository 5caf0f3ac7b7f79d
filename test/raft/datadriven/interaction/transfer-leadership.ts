/** `transfer-leadership from=<id> to=<id>`: asks the leader to hand over; prints a refusal, if any. */
import type { ReplicaId } from "../../../../src/raft/Types.js"
import type { Handler } from "./Env.js"

export const transferLeadership: Handler = (env, cmd) => {
  const from = Number(cmd.kv.get("from"))
  const to = Number(cmd.kv.get("to")) as ReplicaId
  const r = env.cluster.node(from).raw.transferLeader(to)
  return r === undefined ? "" : `${r._tag} ${r.reason} leader=${r.leaderHint}`
}
