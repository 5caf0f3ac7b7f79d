/**
 * `add-nodes <n> [voters=(1,2,3)] [learners=(4)] [pre-vote=true] [check-quorum=true]
 * [max-size-per-msg=N] [max-inflight=N] [snapshot-chunk=N] [inflight-chunks=N]`: a new cluster
 * of replicas 1..n (or `voters` and `learners`), bootstrapped and persisted; prints the state.
 */
import { Cluster, type NodeOptions } from "../../support/Cluster.js"
import type { Command } from "../../support/datadriven.js"
import { type Handler, ids } from "./Env.js"

const number = (cmd: Command, key: string) => (cmd.kv.has(key) ? Number(cmd.kv.get(key)) : undefined)

const options = (cmd: Command): NodeOptions => {
  const opts: { -readonly [K in keyof NodeOptions]: NodeOptions[K] } = {
    preVote: cmd.kv.get("pre-vote") === "true",
    checkQuorum: cmd.kv.get("check-quorum") === "true",
  }
  const maxSizePerMsg = number(cmd, "max-size-per-msg")
  const maxInflightMsgs = number(cmd, "max-inflight")
  const maxSnapshotChunkBytes = number(cmd, "snapshot-chunk")
  const maxInflightSnapshotChunks = number(cmd, "inflight-chunks")
  if (maxSizePerMsg !== undefined) opts.maxSizePerMsg = maxSizePerMsg
  if (maxInflightMsgs !== undefined) opts.maxInflightMsgs = maxInflightMsgs
  if (maxSnapshotChunkBytes !== undefined) opts.maxSnapshotChunkBytes = maxSnapshotChunkBytes
  if (maxInflightSnapshotChunks !== undefined) opts.maxInflightSnapshotChunks = maxInflightSnapshotChunks
  return opts
}

export const addNodes: Handler = (env, cmd) => {
  const n = Number(cmd.args[0])
  const voters = cmd.kv.has("voters") ? ids(cmd.kv.get("voters")) : Array.from({ length: n }, (_, i) => i + 1)
  env.reset(new Cluster(options(cmd)))
  env.cluster.bootstrap(voters, ids(cmd.kv.get("learners")))
  env.cluster.inbox.clear()
  return env.raftState()
}
