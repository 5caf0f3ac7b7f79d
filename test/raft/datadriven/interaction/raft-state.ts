/** `raft-state`: every replica's state, role, term, leader and configuration. */
import type { Handler } from "./Env.js"

export const raftState: Handler = (env) => env.raftState()
