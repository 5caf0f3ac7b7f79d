/** `tick <id> [n]`: `n` ticks of the replica's clock (default 1). */
import { type Handler, replicaArg } from "./Env.js"

export const tick: Handler = (env, cmd) => {
  const raw = env.cluster.node(replicaArg(cmd)).raw
  const n = cmd.args[1] === undefined ? 1 : Number(cmd.args[1])
  for (let i = 0; i < n; i++) raw.tick()
  return ""
}
