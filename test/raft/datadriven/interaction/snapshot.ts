/** `snapshot <id>`: a snapshot at the replica's applied index, then its log compacted up to it. */
import { describeBytes } from "../../../../src/raft/Describe.js"
import { type Handler, replicaArg } from "./Env.js"

const enc = new TextEncoder()

export const snapshot: Handler = (env, cmd) => {
  const n = env.cluster.node(replicaArg(cmd))
  const applied = n.raw.status().applied
  const data = enc.encode(env.cluster.appliedText(n.id).join(","))
  const s = n.storage.createSnapshot(applied, n.raw.confState(), data)
  if (typeof s !== "object" || "_tag" in s) throw new Error(`snapshot refused: ${JSON.stringify(s)}`)
  n.storage.compact(applied)
  return `snapshot Index:${s.metadata.index} Term:${s.metadata.term} Data:${describeBytes(data)}; log now starts at ${n.storage.firstIndex()}`
}
