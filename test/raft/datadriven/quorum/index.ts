/**
 * The commands of the quorum scenario files (test/raft/testdata/quorum/*.txt), one file per
 * command, checking src/raft/Quorum.ts:
 *
 *   committed voters=(1,2,3) [outgoing=(3,4,5)] acked=(1:12,2:10,3:_)
 *   vote voters=(1,2,3) [outgoing=(3,4,5)] votes=(1:y,2:n,3:_)
 *
 * They keep no state between cases.
 */
import type { Command } from "../../support/datadriven.js"
import { committed } from "./committed.js"
import { vote } from "./vote.js"

/** Every command, by name. */
export const handlers: Readonly<Record<string, (cmd: Command) => string>> = { committed, vote }

/** Runs one command. */
export const run = (cmd: Command): string => {
  const handler = handlers[cmd.name]
  if (handler === undefined) throw new Error(`unknown command ${cmd.name}`)
  return handler(cmd)
}
