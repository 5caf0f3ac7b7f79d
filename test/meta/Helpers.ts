/**
 * Small builders for metadata tests: a bootstrapped state machine with some nodes, and a way
 * to apply a command that must succeed.
 */
import type { MetaCommand, MetaResponse } from "../../src/meta/MetaCommand.js"
import { MetaStateMachine } from "../../src/meta/MetaStateMachine.js"
import { NodeId } from "../../src/raft/Ids.js"

/** The success responses of the metadata state machine. */
export const SUCCESS = [
  "Done",
  "Bootstrapped",
  "NodeRegistered",
  "KeyspaceCreated",
  "KeyspaceDeleted",
  "ReplicaAllocated",
  "OperatorStarted",
]

/** Applies a command that must succeed; throws with the refusal otherwise. */
export const must = (sm: MetaStateMachine, command: MetaCommand): MetaResponse => {
  const r = sm.applyCommand(command)
  if (!SUCCESS.includes(r._tag)) throw new Error(`${command._tag} refused: ${JSON.stringify(r)}`)
  return r
}

/** A bootstrapped cluster of `nodes` nodes registered at time 0, with the given zones (round robin). */
export const cluster = (nodes: number, zones: ReadonlyArray<string> = []): MetaStateMachine => {
  const sm = new MetaStateMachine()
  const labels = (i: number): Record<string, string> =>
    zones.length === 0 ? {} : { zone: zones[i % zones.length]! }
  must(sm, {
    _tag: "Bootstrap",
    cluster: "c",
    token: "t1",
    name: "n1",
    labels: labels(0),
    settings: {},
    at: 0,
  })
  for (let i = 1; i < nodes; i++) {
    must(sm, { _tag: "RegisterNode", token: `t${i + 1}`, name: `n${i + 1}`, labels: labels(i), at: 0 })
  }
  return sm
}

/** Shorthand for a node id. */
export const n = (id: number): NodeId => NodeId(id)
