/** `simple v1 l2 r3 ...`: a change of at most one voter, without a joint configuration. */
import { parseChanges } from "../ConfChanges.js"
import type { Handler } from "./Env.js"

export const simple: Handler = (env, cmd) => env.apply((changer) => changer.simple(parseChanges(cmd.args)))
