/**
 * `committed voters=(...) [outgoing=(...)] acked=(1:12,2:10,3:_)`: the index a configuration
 * has committed when each voter acknowledged what `acked` says (`_` or absent: nothing). Prints
 * each half's voters, their acknowledged indexes in the order listed and the half's majority index
 * (`∞` for an empty half: it does not constrain), then the configuration's. Every case is also
 * computed by the naive definition (support/NaiveQuorum.ts); a disagreement is an error.
 */
import { jointCommittedIndex, majorityCommittedIndex } from "../../../../src/raft/Quorum.js"
import type { ReplicaId } from "../../../../src/raft/Types.js"
import type { Command } from "../../support/datadriven.js"
import { naiveCommitted } from "../../support/NaiveQuorum.js"
import { configOf, halfLine, perReplica } from "./Args.js"

const show = (i: number) => (i === Number.POSITIVE_INFINITY ? "∞" : String(i))

export const committed = (cmd: Command): string => {
  const { config, joint } = configOf(cmd)
  const given = perReplica(cmd.kv.get("acked"))
  const acked = (id: ReplicaId): number | undefined => {
    const v = given.get(id)
    return v === undefined || v === "_" ? undefined : Number(v)
  }
  const shown = (id: ReplicaId) => given.get(id) ?? "_"
  const incoming = majorityCommittedIndex(config.incoming, acked)
  const outgoing = majorityCommittedIndex(config.outgoing, acked)
  const result = joint ? jointCommittedIndex(config, acked) : incoming
  const naive = Math.min(naiveCommitted(config.incoming, acked), naiveCommitted(config.outgoing, acked))
  if (result !== naive)
    throw new Error(`Quorum.ts commits ${show(result)}, the naive definition ${show(naive)}`)
  if (!joint && jointCommittedIndex({ ...config, outgoing: [] }, acked) !== result)
    throw new Error("a joint configuration with an empty half commits differently")
  const lines = [halfLine("incoming", config.incoming, shown, show(incoming))]
  if (joint) lines.push(halfLine("outgoing", config.outgoing, shown, show(outgoing)))
  lines.push(`committed ${show(result)}`)
  return lines.join("\n")
}
