/**
 * `propose-conf-change <id> [transition=implicit|explicit] [v4 r1 l5 ...]`: a configuration
 * change (`v` add a voter, `r` remove, `l` add a learner); without changes, leave the joint
 * configuration. Prints where it went, or why it was refused.
 */
import { ConfChangeTransition, confChange } from "../../../../src/raft/ConfChange.js"
import { parseChanges } from "../ConfChanges.js"
import { type Handler, replicaArg } from "./Env.js"

const transitionOf = (t: string | undefined): ConfChangeTransition =>
  t === "explicit"
    ? ConfChangeTransition.JointExplicit
    : t === "implicit"
      ? ConfChangeTransition.JointImplicit
      : ConfChangeTransition.Auto

export const proposeConfChange: Handler = (env, cmd) => {
  const cc = confChange(parseChanges(cmd.args.slice(1)), transitionOf(cmd.kv.get("transition")))
  const r = env.cluster.node(replicaArg(cmd)).raw.proposeConfChange(cc)
  if (r._tag === "Proposed") return `Proposed index=${r.index} term=${r.term}`
  return r._tag === "ProposalDropped"
    ? `ProposalDropped ${r.reason} leader=${r.leaderHint}`
    : `${r._tag}: ${r.reason}`
}
