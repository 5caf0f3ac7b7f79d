/**
 * Where replicas may go: node health at a given time, zone rules, the choice of a node for a
 * new replica, the initial placement of a new keyspace and the metadata group's own target
 * membership. Pure and deterministic: time is a parameter (the proposer's stamp inside the
 * state machine, the driver's clock in the planner), ties break by node id.
 *
 * The planner (src/placement) builds on these so that a keyspace is created with the same
 * rules the planner later maintains.
 */
import { type NodeId, nodeOfReplica } from "../raft/Ids.js"
import {
  type ClusterState,
  DEFAULT_KEYSPACE_KIND,
  findGroup,
  META_GROUP,
  type NodeRecord,
  type Settings,
  zoneOf,
} from "./ClusterState.js"
import { balanceLeaders } from "./LeaderChains.js"

/**
 * A node's health at time `now`, from its recorded state and its last heartbeat.
 * - `up`: state up and heard from within the heartbeat timeout. May take new replicas.
 * - `draining`: state draining and heard from. Its replicas still vote; it takes nothing new.
 * - `suspect`: silent past the heartbeat timeout (or recorded down), not yet past the down
 *   timeout. Its replicas do not count as alive; they are not replaced yet.
 * - `failed`: silent past the down timeout. Its replicas are replaced.
 * - `removed`: gone for good.
 */
export type NodeHealth = "up" | "draining" | "suspect" | "failed" | "removed"

/** See `NodeHealth`. */
export const nodeHealth = (node: NodeRecord, settings: Settings, now: number): NodeHealth => {
  if (node.state === "removed") return "removed"
  const silence = now - node.lastHeartbeat
  if (node.state === "down" || silence > settings.heartbeatTimeoutMs) {
    return silence > settings.downTimeoutMs ? "failed" : "suspect"
  }
  return node.state === "draining" ? "draining" : "up"
}

/** True when a node of this health answers: its replicas count towards a quorum. */
export const isAlive = (health: NodeHealth): boolean => health === "up" || health === "draining"

/**
 * True when zones bind: every candidate node carries a zone label and there are at least
 * `replicas` distinct zones among them. Then no two replicas of a group may share a zone.
 * Otherwise zones are a preference: the fewest replicas of the group per zone.
 */
export const zonesBind = (candidates: ReadonlyArray<NodeRecord>, replicas: number): boolean => {
  if (candidates.length === 0) return false
  const zones = new Set<string>()
  for (const n of candidates) {
    const z = zoneOf(n)
    if (z === "") return false
    zones.add(z)
  }
  return zones.size >= replicas
}

/**
 * Chooses the node for a new replica of a group whose other replicas (those that stay) are on
 * `staying`. Never a node in `staying`; when `strict`, never a zone of `staying`. Among the
 * rest: fewest replicas of the group in the same zone, then lowest `load`, then lowest id.
 * `undefined` when no candidate qualifies.
 */
export const pickNode = (
  candidates: ReadonlyArray<NodeRecord>,
  staying: ReadonlyArray<NodeRecord>,
  strict: boolean,
  load: (node: NodeId) => number,
): NodeRecord | undefined => {
  const taken = new Set(staying.map((n) => n.id))
  const zoneUse = new Map<string, number>()
  for (const n of staying) {
    const z = zoneOf(n)
    if (z !== "") zoneUse.set(z, (zoneUse.get(z) ?? 0) + 1)
  }
  let best: NodeRecord | undefined
  let bestKey: readonly [number, number, number] = [0, 0, 0]
  for (const n of candidates) {
    if (taken.has(n.id)) continue
    const sameZone = zoneUse.get(zoneOf(n)) ?? 0
    if (strict && sameZone > 0) continue
    const key = [sameZone, load(n.id), n.id] as const
    if (best === undefined || compareKeys(key, bestKey) < 0) {
      best = n
      bestKey = key
    }
  }
  return best
}

const compareKeys = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!
    if (d !== 0) return d
  }
  return 0
}

/** Replicas (any role) and leader hints per node, over the shard groups (the metadata group excluded). */
export const shardLoad = (
  state: ClusterState,
): { readonly replicas: Map<NodeId, number>; readonly leaders: Map<NodeId, number> } => {
  const replicas = new Map<NodeId, number>()
  const leaders = new Map<NodeId, number>()
  for (const g of state.groups) {
    if (g.id === META_GROUP) continue
    for (const r of g.replicas) bump(replicas, nodeOfReplica(r.id))
    if (g.leaderHint !== 0) bump(leaders, nodeOfReplica(g.leaderHint))
  }
  return { replicas, leaders }
}

const bump = (m: Map<NodeId, number>, k: NodeId, by = 1) => m.set(k, (m.get(k) ?? 0) + by)

/** The placement of one new group: its nodes and the one whose replica campaigns first. */
export interface GroupPlacement {
  readonly nodes: ReadonlyArray<NodeId>
  readonly leader: NodeId
}

/** Replicas (any role, any group, the metadata group's included) per node. */
export const replicaCounts = (state: ClusterState): Map<NodeId, number> => {
  const counts = new Map<NodeId, number>()
  for (const g of state.groups) for (const r of g.replicas) bump(counts, nodeOfReplica(r.id))
  return counts
}

/** True when the node declared that it hosts state machine kind `kind`. */
export const hostsKind = (node: NodeRecord, kind: string): boolean => node.kinds.includes(kind)

/**
 * The nodes that may take replicas of a new group of kind `kind` at time `at`: up, hosting the
 * kind, under the cluster's limit of replicas per node.
 */
export const placementCandidates = (state: ClusterState, kind: string, at: number): NodeRecord[] => {
  const counts = replicaCounts(state)
  return state.nodes.filter(
    (n) =>
      nodeHealth(n, state.settings, at) === "up" &&
      hostsKind(n, kind) &&
      (counts.get(n.id) ?? 0) < state.settings.maxReplicasPerNode,
  )
}

/**
 * Places `count` new groups of `replicas` voters each on the nodes that are `up` at time `at`
 * and host `kind`: distinct nodes per group, distinct zones when zones bind, never more than
 * `maxReplicasPerNode` replicas on a node, the least loaded nodes first, and the first leaders
 * spread over the least-leading nodes (as evenly as the groups' node sets allow, see
 * LeaderChains). Deterministic in (state, count, replicas, at, kind). `undefined` when the
 * groups do not fit.
 */
export const placeGroups = (
  state: ClusterState,
  count: number,
  replicas: number,
  at: number,
  kind: string = DEFAULT_KEYSPACE_KIND,
): ReadonlyArray<GroupPlacement> | undefined => {
  const up = placementCandidates(state, kind, at)
  if (up.length < replicas || replicas < 1) return undefined
  const used = replicaCounts(state)
  const max = state.settings.maxReplicasPerNode
  const strict = zonesBind(up, replicas)
  const load = shardLoad(state)
  const placements: Array<{ nodes: NodeId[]; leader: NodeId }> = []
  for (let i = 0; i < count; i++) {
    const chosen: NodeRecord[] = []
    for (let k = 0; k < replicas; k++) {
      const open = up.filter((c) => (used.get(c.id) ?? 0) < max)
      const n = pickNode(open, chosen, strict, (id) => load.replicas.get(id) ?? 0)
      if (n === undefined) return undefined
      chosen.push(n)
      bump(load.replicas, n.id)
      bump(used, n.id)
    }
    let leader = chosen[0]!.id
    for (const n of chosen) {
      const l = load.leaders.get(n.id) ?? 0
      const best = load.leaders.get(leader) ?? 0
      if (l < best || (l === best && n.id < leader)) leader = n.id
    }
    bump(load.leaders, leader)
    placements.push({ nodes: chosen.map((n) => n.id).sort((a, b) => a - b), leader })
  }
  // The greedy choice above can leave two nodes' leader counts two apart; chains of
  // reassignments among each group's nodes settle them as far as the placement allows.
  const counts = new Map(up.map((n) => [n.id, load.leaders.get(n.id) ?? 0] as const))
  const leaders = balanceLeaders(
    placements.map((p, i) => ({ group: i, leader: p.leader, candidates: p.nodes })),
    counts,
  )
  return placements.map((p, i) => ({ nodes: p.nodes, leader: leaders.get(i)! }))
}

/** The largest odd number not above `n` (0 for 0). */
const largestOdd = (n: number): number => (n <= 0 ? 0 : n % 2 === 1 ? n : n - 1)

/**
 * The nodes that should host the metadata group's voters at time `now`.
 *
 * Current hosts are kept while they are `up` or only `suspect` (a short silence does not
 * justify a membership change); hosts that failed, drain or were removed are dropped. New
 * hosts are `up` nodes, zone-diverse first, then least loaded, then lowest id. The size is the
 * number of kept hosts (at most `metaTargetSize`), raised to the largest odd number not above
 * `min(metaTargetSize, eligible nodes)`: two voters are no safer than one, so the group grows
 * from 1 to 3 to 5 voters, and a healthy host is never dropped just to make the size odd.
 * Sorted by node id.
 */
export const metaMembershipTarget = (state: ClusterState, now: number): ReadonlyArray<NodeId> => {
  const settings = state.settings
  const group = findGroup(state, META_GROUP)
  const hosts = new Set((group?.replicas ?? []).map((r) => nodeOfReplica(r.id)))
  const kept: NodeRecord[] = []
  const fresh: NodeRecord[] = []
  for (const n of state.nodes) {
    const h = nodeHealth(n, settings, now)
    if (hosts.has(n.id) && (h === "up" || h === "suspect")) kept.push(n)
    else if (!hosts.has(n.id) && h === "up") fresh.push(n)
  }
  const eligible = kept.length + fresh.length
  const size = Math.max(
    Math.min(kept.length, settings.metaTargetSize),
    largestOdd(Math.min(settings.metaTargetSize, eligible)),
  )
  const load = shardLoad(state)
  const strict = zonesBind([...kept, ...fresh], size)
  const chosen: NodeRecord[] = []
  // Kept hosts first (zone-diverse, then lowest id), then new ones, each pick avoiding the
  // zones already chosen when zones bind.
  for (const pool of [kept, fresh]) {
    while (chosen.length < size) {
      const n =
        pool === kept
          ? pickKept(pool, chosen, strict)
          : pickNode(pool, chosen, strict, (id) => load.replicas.get(id) ?? 0)
      if (n === undefined) break
      chosen.push(n)
    }
  }
  return chosen.map((n) => n.id).sort((a, b) => a - b)
}

/** A kept host: the first (by id) whose zone is least used among `chosen`. */
const pickKept = (
  pool: ReadonlyArray<NodeRecord>,
  chosen: ReadonlyArray<NodeRecord>,
  strict: boolean,
): NodeRecord | undefined => pickNode(pool, chosen, strict, () => 0)
