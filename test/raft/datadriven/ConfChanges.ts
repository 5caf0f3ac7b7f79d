/**
 * Configuration changes as the datadriven files write them: `v4` adds voter 4, `l5` adds
 * learner 5 (or demotes voter 5), `r1` removes replica 1. Shared by the interaction command
 * `propose-conf-change` and the confchange commands.
 */
import { type ConfChangeSingle, ConfChangeType } from "../../../src/raft/ConfChange.js"
import type { ReplicaId } from "../../../src/raft/Types.js"

const TYPES: Record<string, ConfChangeType> = {
  v: ConfChangeType.AddNode,
  r: ConfChangeType.RemoveNode,
  l: ConfChangeType.AddLearner,
}

/** One change per argument. */
export const parseChanges = (args: ReadonlyArray<string>): ConfChangeSingle[] =>
  args.map((a) => {
    const type = TYPES[a[0]!]
    const id = Number(a.slice(1))
    if (type === undefined || !Number.isInteger(id)) throw new Error(`bad change ${a}`)
    return { type, nodeId: id as ReplicaId }
  })
