/**
 * The metadata state of a cluster restored from a backup (decision 0111): the backed-up state
 * with its membership replaced by the one node the restore writes. Keyspaces, shards (same
 * group ids, same hash slots), settings and id counters stay; every group gets one voter, a
 * fresh replica of node 1; the old nodes and the operators in flight are gone (their nodes no
 * longer exist). The other nodes then join as usual and the planner adds replicas up to each
 * keyspace's replication factor.
 */
import {
  type ClusterState,
  type GroupRecord,
  META_GROUP,
  META_KIND,
  type NodeRecord,
} from "../../meta/ClusterState.js"
import { NodeId, replicaIdOf } from "../../raft/Ids.js"
import type { ReplicaId } from "../../raft/Types.js"

/** The node that hosts everything after a restore. */
export const RESTORED_NODE = NodeId(1)

/** What the restore decides for the new node. */
export interface RestoredNode {
  readonly cluster: string
  readonly token: string
  readonly name: string
  readonly at: number
}

/** A group of the restored state: its one replica and the index its snapshot stands at. */
export interface RestoredGroup {
  readonly group: number
  readonly replica: ReplicaId
  /** The state machine kind (the catalog's record). */
  readonly kind: string
}

/**
 * The restored state and, for every group, its new replica. `indexOf` gives each group's
 * backed-up applied index (its configuration version from now on); THROWS RangeError when a
 * group of the state has none (a backup missing a shard).
 */
export const restoreState = (
  state: ClusterState,
  node: RestoredNode,
  indexOf: (group: number) => number | undefined,
): { readonly state: ClusterState; readonly groups: ReadonlyArray<RestoredGroup> } => {
  const kindOfKeyspace = new Map(state.keyspaces.map((k) => [k.name, k.kind]))
  const restored: RestoredGroup[] = []
  const groups = state.groups.map((g): GroupRecord => {
    const index = indexOf(g.id)
    if (index === undefined) throw new RangeError(`the backup holds no state for group ${g.id}`)
    const replica = replicaIdOf(RESTORED_NODE, g.nextGeneration)
    const kind = g.id === META_GROUP ? META_KIND : kindOfKeyspace.get(g.keyspace)
    if (kind === undefined) throw new RangeError(`group ${g.id} belongs to no keyspace ("${g.keyspace}")`)
    restored.push({ group: g.id, replica, kind })
    return {
      ...g,
      replicas: [{ id: replica, role: "voter" }],
      joint: false,
      confVersion: index,
      leaderHint: replica,
      leaderTerm: 0,
      nextGeneration: g.nextGeneration + 1,
    }
  })
  const kinds = [...new Set(state.keyspaces.map((k) => k.kind))].sort()
  const only: NodeRecord = {
    id: RESTORED_NODE,
    token: node.token,
    name: node.name,
    labels: {},
    state: "up",
    registeredAt: node.at,
    lastHeartbeat: node.at,
    stateSince: node.at,
    kinds,
  }
  return {
    state: {
      ...state,
      cluster: node.cluster,
      bootstrapped: true,
      shardMapVersion: state.shardMapVersion + 1,
      nextNodeId: RESTORED_NODE + 1,
      nodes: [only],
      groups,
      operators: [],
      history: [],
    },
    groups: restored,
  }
}
