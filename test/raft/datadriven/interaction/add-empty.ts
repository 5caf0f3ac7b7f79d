/** `add-empty <id>`: a replica with empty storage, to be added by a configuration change. */
import { type Handler, replicaArg } from "./Env.js"

export const addEmpty: Handler = (env, cmd) => {
  env.cluster.addEmpty(replicaArg(cmd))
  return env.raftState()
}
