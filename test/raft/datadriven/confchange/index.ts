/**
 * The commands of the configuration-change scenario files (test/raft/testdata/confchange/*.txt),
 * one file per command, checking src/raft/Changer.ts (`ConfChangeEnv`):
 *
 *   simple v1 l2 r3 ...               at most one voter changes (v add a voter, l add or demote
 *                                     to a learner, r remove)
 *   enter-joint [autoleave=true] v1 l2 r3 ...
 *   leave-joint
 */
import type { Command } from "../../support/datadriven.js"
import type { ConfChangeEnv, Handler } from "./Env.js"
import { enterJoint } from "./enter-joint.js"
import { leaveJoint } from "./leave-joint.js"
import { simple } from "./simple.js"

export { ConfChangeEnv } from "./Env.js"

/** Every command, by name. */
export const handlers: Readonly<Record<string, Handler>> = {
  simple,
  "enter-joint": enterJoint,
  "leave-joint": leaveJoint,
}

/** Runs one command against `env`. */
export const run = (env: ConfChangeEnv, cmd: Command): string => {
  const handler = handlers[cmd.name]
  if (handler === undefined) throw new Error(`unknown command ${cmd.name}`)
  return handler(env, cmd)
}
