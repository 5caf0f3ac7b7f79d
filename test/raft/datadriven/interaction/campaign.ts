/** `campaign <id>`: the replica starts an election now. */
import { type Handler, replicaArg } from "./Env.js"

export const campaign: Handler = (env, cmd) => {
  env.cluster.node(replicaArg(cmd)).raw.campaign()
  return ""
}
