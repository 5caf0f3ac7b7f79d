/**
 * `enter-joint [autoleave=true] v1 l2 r3 ...`: the joint configuration of the current voters
 * (outgoing) and the changed ones (incoming); `autoleave` marks it to be left automatically.
 */
import { parseChanges } from "../ConfChanges.js"
import type { Handler } from "./Env.js"

export const enterJoint: Handler = (env, cmd) =>
  env.apply((changer) => changer.enterJoint(cmd.kv.get("autoleave") === "true", parseChanges(cmd.args)))
