/**
 * Deleting a keyspace (docs/decisions/0105). The keyspace and its group records leave the
 * state in one command, so the next shard map no longer lists them: every node's metadata
 * agent then finds its replicas of those groups unlisted and removes them, which wipes their
 * log and snapshot (LocalReplicas.ts, `removeReplica`). Nothing else has to remember the
 * groups: group ids come from a counter and are never reused, so an unlisted id can only mean
 * "gone", and a keyspace created later under the same name gets new groups.
 *
 * Operators in flight on the deleted groups end at once as `rolled-back` (cause "keyspace
 * deleted"), so the placement driver stops carrying them out and the history says why.
 */
import type { ClusterState } from "./ClusterState.js"
import { OPERATOR_HISTORY } from "./ClusterState.js"
import { accept, bumpShardMap, type CommandOutcome, refuse } from "./CommandOutcome.js"
import { type DeleteKeyspace, KeyspaceDeleted } from "./MetaCommand.js"
import { UnknownKeyspace } from "./MetaErrors.js"
import type { OperatorRecord } from "./Operator.js"

/** The cause recorded on the operators a deletion ends. */
export const DELETED_CAUSE = "keyspace deleted"

/** Removes the keyspace `cmd.name`, its groups and their operators; `UnknownKeyspace` if there is none. */
export const applyDeleteKeyspace = (state: ClusterState, cmd: typeof DeleteKeyspace.Type): CommandOutcome => {
  const keyspace = state.keyspaces.find((k) => k.name === cmd.name)
  if (keyspace === undefined) return refuse(state, new UnknownKeyspace({ name: cmd.name }))
  const doomed = new Set<number>(keyspace.shards.map((s) => s.group))
  const ended: OperatorRecord[] = state.operators
    .filter((o) => doomed.has(o.spec.group))
    .map((o) => ({
      ...o,
      status: "rolled-back",
      cause: DELETED_CAUSE,
      updatedAt: Math.max(o.updatedAt, cmd.at),
    }))
  const history = [...state.history, ...ended]
  const next: ClusterState = {
    ...state,
    keyspaces: state.keyspaces.filter((k) => k.name !== cmd.name),
    groups: state.groups.filter((g) => !doomed.has(g.id)),
    operators:
      ended.length === 0 ? state.operators : state.operators.filter((o) => !doomed.has(o.spec.group)),
    history: history.length > OPERATOR_HISTORY ? history.slice(history.length - OPERATOR_HISTORY) : history,
  }
  return accept(
    bumpShardMap(next),
    KeyspaceDeleted.make({ name: keyspace.name, groups: keyspace.shards.map((s) => s.group) }),
  )
}
