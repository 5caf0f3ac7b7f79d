/**
 * What applying one metadata command yields: the next state and the response. Command
 * handlers are pure functions `(state, command) → CommandOutcome`; a refusal returns the state
 * unchanged with the error as its response. Their input checks are in CommandChecks.ts.
 */
import type { ClusterState } from "./ClusterState.js"
import { Done, type MetaResponse } from "./MetaCommand.js"
import type { MetaError } from "./MetaErrors.js"

/** The result of applying one command. */
export interface CommandOutcome {
  readonly state: ClusterState
  readonly response: MetaResponse
}

/** Success: the new state, answered with `response` (default: `Done` with the shard map version). */
export const accept = (state: ClusterState, response?: MetaResponse): CommandOutcome => ({
  state,
  response: response ?? Done.make({ shardMapVersion: state.shardMapVersion }),
})

/** Refusal: the state stays as it was. */
export const refuse = (state: ClusterState, error: MetaError): CommandOutcome => ({ state, response: error })

/** The state with the shard map version bumped: clients and nodes must refetch. */
export const bumpShardMap = (state: ClusterState): ClusterState => ({
  ...state,
  shardMapVersion: state.shardMapVersion + 1,
})
