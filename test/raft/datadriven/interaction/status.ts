/** `status <id>`: the replica's state, term, commit and applied; a leader's progress of every member. */
import { StateType, stateTypeName } from "../../../../src/raft/Types.js"
import { type Handler, replicaArg } from "./Env.js"

export const status: Handler = (env, cmd) => {
  const n = replicaArg(cmd)
  const r = env.cluster.node(n).raw.internals
  const lines = [
    `${n}: ${stateTypeName(r.state)} Term:${r.term} Commit:${r.log.committed} Applied:${r.log.applied}`,
  ]
  if (r.state === StateType.Leader)
    for (const [pid, pr] of [...r.prs.progress].sort((a, b) => a[0] - b[0]))
      lines.push(`  ${pid}: ${pr.describe()}`)
  return lines.join("\n")
}
