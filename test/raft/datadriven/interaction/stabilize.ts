/** `stabilize [<id>...]`: handles Readies and delivers messages (of every replica, or those) until nothing moves. */
import type { Handler } from "./Env.js"

export const stabilize: Handler = (env, cmd) => {
  const out: string[] = []
  const which =
    cmd.args.length > 0 ? cmd.args.map(Number) : [...env.cluster.nodes.keys()].sort((a, b) => a - b)
  for (let round = 0; round < 100; round++) {
    let moved = false
    for (const n of which) moved = env.processReady(n, out) || moved
    for (const n of which) moved = env.deliver(n, out) || moved
    if (!moved) return out.join("\n")
  }
  throw new Error("did not stabilize in 100 rounds")
}
