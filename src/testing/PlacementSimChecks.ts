/**
 * What placement scenarios check on a simulated cluster (PlacementSim.ts): balance, full
 * replication, and that every node hosts exactly the replicas the metadata group records for
 * it. Each check takes an `Observed` cluster and returns `undefined` when it holds, or why
 * not; `waitUntil` drives the simulation until one holds, sampling the quorum invariant at
 * every step.
 */
import { Effect } from "effect"
import { type ClusterState, META_GROUP, replicationTarget } from "../meta/ClusterState.js"
import { type NodeId, nodeOfReplica } from "../raft/Ids.js"
import type { GroupStatus } from "../runtime/Node.js"
import type { PlacementSim } from "./PlacementSim.js"

/** Counts per node within ±1 of their mean. */
export const withinOne = (counts: ReadonlyMap<NodeId, number>): boolean => {
  const values = [...counts.values()]
  if (values.length === 0) return true
  const mean = values.reduce((a, b) => a + b, 0) / values.length
  return values.every((c) => Math.abs(c - mean) <= 1)
}

/** One line per node: replicas/leaders of shard groups. */
export const describeCounts = (
  replicas: ReadonlyMap<NodeId, number>,
  leaders: ReadonlyMap<NodeId, number>,
): string => [...replicas.keys()].map((n) => `n${n}:${replicas.get(n)}/${leaders.get(n) ?? 0}`).join(" ")

/** A snapshot of the cluster: the metadata state and every running node's replicas. */
export interface Observed {
  readonly state: ClusterState
  readonly statuses: ReadonlyMap<NodeId, ReadonlyArray<GroupStatus>>
  /** Nodes running now and recorded `up` (or draining). */
  readonly up: ReadonlyArray<NodeId>
}

/** The cluster now, if a metadata leader is running. */
export const observe = (sim: PlacementSim): Effect.Effect<Observed | undefined> =>
  Effect.gen(function* () {
    const leader = yield* sim.metaLeader()
    if (leader === undefined) return undefined
    const statuses = yield* sim.statuses()
    const up = leader.state.nodes
      .filter((n) => (n.state === "up" || n.state === "draining") && sim.isUp(n.id))
      .map((n) => n.id)
    return { state: leader.state, statuses, up }
  })

/** Every group has its replication target of voters, all on running nodes, no learner, not joint. */
export const fullyReplicated = (o: Observed): string | undefined => {
  const up = new Set(o.up)
  for (const g of o.state.groups) {
    const target =
      g.id === META_GROUP
        ? Math.min(replicationTarget(o.state, g), o.up.length)
        : replicationTarget(o.state, g)
    const voters = g.replicas.filter((r) => r.role === "voter")
    if (voters.length !== target || g.replicas.length !== voters.length || g.joint)
      return `group ${g.id}: ${JSON.stringify(g.replicas)} (target ${target}${g.joint ? ", joint" : ""})`
    for (const r of voters)
      if (!up.has(nodeOfReplica(r.id)))
        return `group ${g.id}: voter ${r.id} on node ${nodeOfReplica(r.id)}, not up`
  }
  return undefined
}

/** Every running node hosts exactly the replicas recorded for it, and each group's leader agrees with the record. */
export const hostingMatches = (o: Observed): string | undefined => {
  const recorded = new Map<NodeId, Map<number, number>>()
  for (const g of o.state.groups)
    for (const r of g.replicas) {
      const n = nodeOfReplica(r.id)
      if (!recorded.has(n)) recorded.set(n, new Map())
      recorded.get(n)!.set(g.id, r.id)
    }
  for (const n of o.up) {
    const hosted = new Map((o.statuses.get(n) ?? []).map((s) => [s.groupId as number, s.replicaId as number]))
    const want = recorded.get(n) ?? new Map()
    for (const [g, r] of want)
      if (hosted.get(g) !== r) return `node ${n}: group ${g} replica ${r} recorded, hosts ${hosted.get(g)}`
    for (const [g, r] of hosted)
      if (want.get(g) !== r) return `node ${n}: hosts replica ${r} of group ${g}, not recorded`
  }
  for (const g of o.state.groups) {
    const leaders = o.up.filter((n) =>
      (o.statuses.get(n) ?? []).some((s) => s.groupId === g.id && s.isLeader),
    )
    if (leaders.length !== 1) return `group ${g.id}: ${leaders.length} leaders (${leaders.join(",")})`
    const hosts = (o.statuses.get(leaders[0]!) ?? []).find((s) => s.groupId === g.id)!
    if (hosts.voters.length !== g.replicas.length || hosts.learners.length > 0)
      return `group ${g.id}: the leader's configuration ${hosts.voters.join(",")} / learners ${hosts.learners.join(",")} differs from the record`
  }
  return undefined
}

/** Shard replicas (record) and shard leaders (nodes' status) per up node. */
export const counts = (o: Observed) => {
  const replicas = new Map<NodeId, number>(o.up.map((n) => [n, 0]))
  const leaders = new Map<NodeId, number>(o.up.map((n) => [n, 0]))
  for (const g of o.state.groups) {
    if (g.id === META_GROUP) continue
    for (const r of g.replicas) {
      const n = nodeOfReplica(r.id)
      if (replicas.has(n)) replicas.set(n, replicas.get(n)! + 1)
    }
  }
  for (const n of o.up)
    for (const s of o.statuses.get(n) ?? [])
      if (s.groupId !== META_GROUP && s.isLeader) leaders.set(n, leaders.get(n)! + 1)
  return { replicas, leaders }
}

/**
 * Balanced: no operator in flight, full replication, hosting as recorded, and every up node's
 * shard replica count and shard leader count within ±1 of the mean.
 */
export const balanced = (o: Observed): string | undefined => {
  if (o.state.operators.length > 0) return `${o.state.operators.length} operators in flight`
  const bad = fullyReplicated(o) ?? hostingMatches(o)
  if (bad !== undefined) return bad
  const c = counts(o)
  if (!withinOne(c.replicas) || !withinOne(c.leaders))
    return `unbalanced: ${describeCounts(c.replicas, c.leaders)}`
  return undefined
}

/** Waits until `check` holds on the observed cluster, sampling the quorum invariant at every step. */
export const waitUntil = (
  sim: PlacementSim,
  what: string,
  check: (o: Observed) => string | undefined,
  timeoutMs = 120_000,
) => {
  let last = "no metadata leader"
  return sim
    .until(
      what,
      Effect.gen(function* () {
        yield* sim.checkQuorum()
        const o = yield* observe(sim)
        if (o === undefined) return false
        const why = check(o)
        if (why !== undefined) last = why
        return why === undefined
      }),
      { timeoutMs, stepMs: 250 },
    )
    .pipe(Effect.mapError((e) => Object.assign(e, { message: `${e.message} (last: ${last})` })))
}
