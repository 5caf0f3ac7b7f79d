/** `read-index <id> <ctx>`: a linearizable read request with context `ctx`; prints a refusal, if any. */
import { type Handler, replicaArg } from "./Env.js"

const enc = new TextEncoder()

export const readIndex: Handler = (env, cmd) => {
  const r = env.cluster.node(replicaArg(cmd)).raw.readIndex(enc.encode(cmd.args[1] ?? ""))
  return r === undefined ? "" : `${r._tag} ${r.reason} leader=${r.leaderHint}`
}
