/** `restart <id>`: the replica recreated from its storage (what it did not persist is lost). */
import { type Handler, replicaArg } from "./Env.js"

export const restart: Handler = (env, cmd) => {
  env.cluster.restart(replicaArg(cmd))
  return env.raftState()
}
