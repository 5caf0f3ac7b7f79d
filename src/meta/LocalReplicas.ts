/**
 * Which replicas a node should create or remove to match the shard map: a pure function, run
 * by the metadata agent (MetaAgent.ts) on every map it fetches.
 *
 * Rules (docs/placement.md, "The metadata agent"):
 * - nothing is done until the map is bootstrapped (it lists group 0);
 * - a hosted replica the map does not list on this node (or lists under another replica id)
 *   is removed: the map is at least as new as the one the replica was created from, so it
 *   proves the group dropped it;
 * - a listed replica that is not hosted is created:
 *   - an initial voter of a group whose recorded configuration never changed (generation 0,
 *     configuration version 0) is bootstrapped with the group's initial voters, identically on
 *     every member (docs/decisions/0007: the initial members are entries 1..n of every log);
 *   - a `joining` replica or a learner is created empty: the group's leader fills it;
 * - NEVER re-created: a replica this node removed before (a tombstone: a wiped replica that
 *   comes back under its old id may vote twice, docs/decisions/0003), and a voter that is
 *   neither (it must have existed here and been lost). A tombstone names the group AND the
 *   replica id: replica ids are a node and a generation, so every new group's initial replica
 *   on a node has the same id (a keyspace deleted and created again reuses them, 0106);
 * - a replica whose state machine kind this node does not have is skipped (and reported).
 */
import { type GroupId, generationOfReplica, type NodeId, nodeOfReplica } from "../raft/Ids.js"
import type { ReplicaId } from "../raft/Types.js"
import { META_GROUP, META_KIND } from "./ClusterState.js"
import type { ShardMap } from "./MetaQuery.js"

/** One replica this node hosts. */
export interface HostedReplica {
  readonly group: GroupId
  readonly replica: ReplicaId
}

/** The tombstone of a replica this node removed (see the module comment). */
export const tombstoneKey = (group: GroupId, replica: ReplicaId): string => `${group}/${replica}`

/** What to do about one group on this node. */
export type LocalAction =
  | {
      readonly _tag: "Create"
      readonly group: GroupId
      readonly replica: ReplicaId
      readonly kind: string
      /** The initial voters to bootstrap with; absent: an empty replica the leader fills. */
      readonly bootstrap?: ReadonlyArray<ReplicaId>
      /** Campaign as soon as the bootstrap is applied: the placement chose it as first leader. */
      readonly campaign?: boolean
    }
  | { readonly _tag: "Remove"; readonly group: GroupId; readonly replica: ReplicaId; readonly why: string }
  | { readonly _tag: "Skip"; readonly group: GroupId; readonly replica: ReplicaId; readonly why: string }

/** See the module comment. Actions come sorted by group id: removals and creations interleaved. */
export const planLocalReplicas = (
  self: NodeId,
  map: ShardMap,
  hosted: ReadonlyArray<HostedReplica>,
  tombstones: ReadonlySet<string>,
  canHost: (kind: string) => boolean,
): LocalAction[] => {
  if (!map.groups.some((g) => g.id === META_GROUP)) return []
  const out: LocalAction[] = []
  const here = new Map(hosted.map((h) => [h.group as number, h.replica]))
  const listed = new Map<number, ReplicaId>()
  const kinds = new Map(map.keyspaces.map((k) => [k.name, k.kind]))
  for (const g of map.groups) {
    const mine = g.replicas.find((r) => nodeOfReplica(r.id) === self)
    if (mine === undefined) continue
    listed.set(g.id, mine.id)
    const local = here.get(g.id)
    if (local !== undefined) continue
    if (tombstones.has(tombstoneKey(g.id, mine.id))) {
      out.push({ _tag: "Skip", group: g.id, replica: mine.id, why: "removed from this node before" })
      continue
    }
    const kind = g.id === META_GROUP ? META_KIND : kinds.get(g.keyspace)
    if (kind === undefined) {
      out.push({
        _tag: "Skip",
        group: g.id,
        replica: mine.id,
        why: `keyspace "${g.keyspace}" not in the map`,
      })
      continue
    }
    if (!canHost(kind)) {
      out.push({ _tag: "Skip", group: g.id, replica: mine.id, why: `no state machine kind "${kind}" here` })
      continue
    }
    if (mine.role !== "voter") {
      out.push({ _tag: "Create", group: g.id, replica: mine.id, kind })
    } else if (generationOfReplica(mine.id) === 0 && g.confVersion === 0) {
      const voters = g.replicas.filter((r) => r.role === "voter").map((r) => r.id)
      out.push({
        _tag: "Create",
        group: g.id,
        replica: mine.id,
        kind,
        bootstrap: voters,
        campaign: g.leaderHint === mine.id,
      })
    } else {
      out.push({
        _tag: "Skip",
        group: g.id,
        replica: mine.id,
        why: "a voter that existed here cannot be re-created safely",
      })
    }
  }
  for (const h of hosted) {
    const want = listed.get(h.group)
    if (want === h.replica) continue
    out.push({
      _tag: "Remove",
      group: h.group,
      replica: h.replica,
      why: want === undefined ? "not listed on this node" : `replaced by replica ${want}`,
    })
  }
  return out.sort((a, b) => a.group - b.group || (a._tag === "Remove" ? -1 : 1))
}
