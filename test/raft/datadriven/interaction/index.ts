/**
 * The commands of the interaction scenario files (test/raft/testdata/interaction/*.txt), one
 * file per command as in etcd-io/raft's rafttest, run against a hand-driven cluster
 * (`InteractionEnv`):
 *
 *   add-nodes <n> [voters=(1,2,3)] [learners=(4)] [pre-vote=true] [check-quorum=true]
 *             [max-size-per-msg=N] [max-inflight=N] [snapshot-chunk=N] [inflight-chunks=N]
 *   add-empty <id>                      a replica with empty storage, to be added by a change
 *   campaign <id>                       start an election now
 *   tick <id> [n]                       n ticks (default 1)
 *   propose <id> <text>
 *   propose-conf-change <id> [transition=implicit|explicit] [v4 r1 l5 ...]  (none: leave joint)
 *   transfer-leadership from=<id> to=<id>
 *   read-index <id> <ctx>
 *   process-ready <id>...               take, persist, send, apply, advance; prints each Ready
 *   deliver-msgs <id>... [drop=(ids)] [type=MsgX]
 *                                       step the waiting messages; drop= discards instead
 *   stabilize [<id>...]                 process Readies and deliver until nothing moves
 *   snapshot <id>                       snapshot at the applied index and compact the log
 *   restart <id>                        recreate from storage
 *   raft-state | status <id> | log <id>
 */
import type { Command } from "../../support/datadriven.js"
import { addEmpty } from "./add-empty.js"
import { addNodes } from "./add-nodes.js"
import { campaign } from "./campaign.js"
import { deliverMsgs } from "./deliver-msgs.js"
import type { Handler, InteractionEnv } from "./Env.js"
import { log } from "./log.js"
import { processReady } from "./process-ready.js"
import { propose } from "./propose.js"
import { proposeConfChange } from "./propose-conf-change.js"
import { raftState } from "./raft-state.js"
import { readIndex } from "./read-index.js"
import { restart } from "./restart.js"
import { snapshot } from "./snapshot.js"
import { stabilize } from "./stabilize.js"
import { status } from "./status.js"
import { tick } from "./tick.js"
import { transferLeadership } from "./transfer-leadership.js"

export { InteractionEnv } from "./Env.js"

/** Every command, by name. */
export const handlers: Readonly<Record<string, Handler>> = {
  "add-nodes": addNodes,
  "add-empty": addEmpty,
  campaign,
  tick,
  propose,
  "propose-conf-change": proposeConfChange,
  "transfer-leadership": transferLeadership,
  "read-index": readIndex,
  "process-ready": processReady,
  "deliver-msgs": deliverMsgs,
  stabilize,
  snapshot,
  restart,
  "raft-state": raftState,
  status,
  log,
}

/** Runs one command against `env`. */
export const run = (env: InteractionEnv, cmd: Command): string => {
  const handler = handlers[cmd.name]
  if (handler === undefined) throw new Error(`unknown command ${cmd.name}`)
  return handler(env, cmd)
}
