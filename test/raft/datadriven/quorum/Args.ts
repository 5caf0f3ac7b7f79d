/**
 * What the quorum commands share: the configuration (`voters=(1,2,3)`, and `outgoing=(...)`
 * for a joint one) and how one half of it is printed.
 */
import type { JointConfig } from "../../../../src/raft/Quorum.js"
import type { ReplicaId } from "../../../../src/raft/Types.js"
import type { Command } from "../../support/datadriven.js"

const idList = (s: string | undefined): ReplicaId[] =>
  s === undefined || s.trim() === "" ? [] : s.split(/[,\s]+/).map((x) => Number(x) as ReplicaId)

/** The configuration of a command; `joint` when it names an `outgoing` half. */
export const configOf = (cmd: Command): { readonly config: JointConfig; readonly joint: boolean } => ({
  config: { incoming: idList(cmd.kv.get("voters")), outgoing: idList(cmd.kv.get("outgoing")) },
  joint: cmd.kv.has("outgoing"),
})

/** `1:12,2:_,3:y`: each listed replica's value (`_`: none), as a map. */
export const perReplica = (s: string | undefined): Map<ReplicaId, string> => {
  const out = new Map<ReplicaId, string>()
  for (const pair of s === undefined || s.trim() === "" ? [] : s.split(",")) {
    const [id, value] = pair.split(":")
    if (id === undefined || value === undefined || !Number.isInteger(Number(id)))
      throw new Error(`bad replica value ${pair}: write <id>:<value>`)
    out.set(Number(id) as ReplicaId, value)
  }
  return out
}

/** `incoming (1 2 3): <values> → <result>`, one line per half. */
export const halfLine = (
  name: string,
  voters: readonly ReplicaId[],
  value: (id: ReplicaId) => string,
  result: string,
): string =>
  voters.length === 0
    ? `${name} (): empty → ${result}`
    : `${name} (${voters.join(" ")}): ${voters.map(value).join(" ")} → ${result}`
