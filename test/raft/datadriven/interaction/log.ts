/** `log <id>`: the replica's log bounds, commit and applied indexes, and every entry it holds. */
import { describeEntry } from "../../../../src/raft/Describe.js"
import { type Handler, replicaArg } from "./Env.js"

export const log: Handler = (env, cmd) => {
  const raftLog = env.cluster.node(replicaArg(cmd)).raw.internals.log
  const lines = [
    `first=${raftLog.firstIndex()} last=${raftLog.lastIndex()} committed=${raftLog.committed} applied=${raftLog.applied}`,
  ]
  for (const e of raftLog.allEntries()) lines.push(`  ${describeEntry(e)}`)
  return lines.join("\n")
}
