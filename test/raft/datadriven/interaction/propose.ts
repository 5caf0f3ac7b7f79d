/** `propose <id> <text>`: a proposal to the replica; prints where it went, or why it was dropped. */
import { type Handler, replicaArg } from "./Env.js"

const enc = new TextEncoder()

export const propose: Handler = (env, cmd) => {
  const r = env.cluster.node(replicaArg(cmd)).raw.propose(enc.encode(cmd.args.slice(1).join(" ")))
  return r._tag === "Proposed"
    ? `Proposed index=${r.index} term=${r.term}`
    : `${r._tag} ${r.reason} leader=${r.leaderHint}`
}
