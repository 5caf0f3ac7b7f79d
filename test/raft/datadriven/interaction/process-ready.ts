/** `process-ready <id>...`: each replica's Ready taken, printed, persisted, sent, applied and advanced. */
import type { Handler } from "./Env.js"

export const processReady: Handler = (env, cmd) => {
  const out: string[] = []
  for (const a of cmd.args) env.processReady(Number(a), out)
  return out.join("\n")
}
