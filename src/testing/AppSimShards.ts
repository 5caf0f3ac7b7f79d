/**
 * The shard-level and membership helpers of `AppSim`, over a placement simulation: which group
 * serves an entity id or key of a keyspace, which node leads it, killing that node, and the
 * membership changes a test makes while its clients run (drain, remove, replication factor),
 * each through the metadata group exactly as an operator's `flotilla` command would.
 */
import { Effect } from "effect"
import { replicasOn } from "../meta/ApplyNodes.js"
import type { ClusterState, Keyspace, NodeState } from "../meta/ClusterState.js"
import { shardOfSlot } from "../meta/Slots.js"
import type { NodeId } from "../raft/Ids.js"
import * as EntityId from "../runtime/entity/EntityId.js"
import type { PlacementSim } from "./PlacementSim.js"
import { SimFailed } from "./PlacementSim.js"
import { fullyReplicated, hostingMatches, waitUntil } from "./PlacementSimChecks.js"

/** A shard of a keyspace: the one owning an entity id or KV key, or the `shard`-th in slot order. */
export type ShardTarget = string | Uint8Array | { readonly shard: number }

/** Virtual milliseconds the helpers wait for a metadata leader or a shard leader (default). */
const WAIT_MS = 30_000

/** Drives the simulation until `probe` answers (not undefined); the answer. */
export const waitFor = <A>(
  sim: PlacementSim,
  what: string,
  probe: Effect.Effect<A | undefined>,
  timeoutMs = WAIT_MS,
): Effect.Effect<A, SimFailed> =>
  Effect.suspend(() => {
    let found: A | undefined
    const cond = Effect.map(probe, (a) => {
      found = a
      return a !== undefined
    })
    return Effect.map(sim.until(what, cond, { timeoutMs, stepMs: 50 }), () => found as A)
  })

/** The metadata state as its running leader holds it, once there is one. */
const metaState = (sim: PlacementSim): Effect.Effect<ClusterState, SimFailed> =>
  waitFor(
    sim,
    "a metadata leader",
    Effect.map(sim.metaLeader(), (l) => l?.state),
  )

/** The keyspace named `name`. */
const keyspaceOf = (sim: PlacementSim, name: string): Effect.Effect<Keyspace, SimFailed> =>
  Effect.flatMap(metaState(sim), (state) => {
    const k = state.keyspaces.find((x) => x.name === name)
    return k === undefined
      ? Effect.fail(
          new SimFailed(
            `no keyspace ${name} (there are: ${state.keyspaces.map((x) => x.name).join(", ") || "none"})`,
          ),
        )
      : Effect.succeed(k)
  })

/** See `AppSim.groupOf`. */
export const groupOf = (
  sim: PlacementSim,
  keyspace: string,
  target: ShardTarget,
): Effect.Effect<number, SimFailed> =>
  Effect.flatMap(keyspaceOf(sim, keyspace), (k) => {
    const range =
      typeof target === "object" && !(target instanceof Uint8Array)
        ? k.shards[target.shard]
        : shardOfSlot(k, EntityId.slotOf(EntityId.make(target)))
    return range === undefined
      ? Effect.fail(
          new SimFailed(
            `keyspace ${keyspace} has no shard ${JSON.stringify(target)} (${k.shards.length} shards)`,
          ),
        )
      : Effect.succeed(range.group as number)
  })

/** The running node whose replica of `group` leads with the highest term, if any. */
const leaderNow = (sim: PlacementSim, group: number): Effect.Effect<NodeId | undefined> =>
  Effect.map(sim.statuses(), (all) => {
    let best: { node: NodeId; term: number } | undefined
    for (const [node, groups] of all)
      for (const g of groups)
        if (g.groupId === group && g.isLeader && (best === undefined || g.term > best.term))
          best = { node, term: g.term }
    return best?.node
  })

/** See `AppSim.leaderOf`. */
export const leaderOf = (sim: PlacementSim, keyspace: string, target: ShardTarget) =>
  Effect.flatMap(groupOf(sim, keyspace, target), (group) => leaderNow(sim, group))

/** See `AppSim.killLeader`. */
export const killLeader = (
  sim: PlacementSim,
  keyspace: string,
  target: ShardTarget,
): Effect.Effect<NodeId, SimFailed> =>
  Effect.gen(function* () {
    const group = yield* groupOf(sim, keyspace, target)
    const node = yield* waitFor(sim, `a leader of group ${group}`, leaderNow(sim, group))
    sim.note(`kill the leader of group ${group} (${keyspace}): n${node}`)
    yield* sim.crash(node)
    return node
  })

/** A metadata request that must answer `Done`. */
const done = (sim: PlacementSim, what: string, request: Parameters<PlacementSim["meta"]>[0]) =>
  Effect.flatMap(sim.meta(request), (reply) =>
    reply._tag === "Done"
      ? Effect.void
      : Effect.fail(new SimFailed(`${what}: the metadata group answered ${JSON.stringify(reply)}`)),
  )

/** Moves a node through its life cycle (`SetNodeState`). */
export const setNodeState = (sim: PlacementSim, node: number, state: NodeState) =>
  Effect.zipRight(
    Effect.sync(() => sim.note(`node n${node} -> ${state}`)),
    done(sim, `node ${node} ${state}`, { _tag: "SetNodeState", node: node as NodeId, state }),
  )

/** See `AppSim.remove`. */
export const remove = (sim: PlacementSim, node: number, timeoutMs = 120_000) =>
  Effect.gen(function* () {
    yield* setNodeState(sim, node, "draining")
    yield* waitFor(
      sim,
      `node ${node} drained`,
      Effect.map(sim.metaLeader(), (l) =>
        l !== undefined && replicasOn(l.state, node as NodeId) === 0 ? true : undefined,
      ),
      timeoutMs,
    )
    yield* setNodeState(sim, node, "removed")
    if (sim.isUp(node)) yield* sim.crash(node)
  })

/** See `AppSim.setReplicationFactor`. */
export const setReplicationFactor = (sim: PlacementSim, keyspace: string, factor: number) =>
  Effect.zipRight(
    Effect.sync(() => sim.note(`keyspace ${keyspace}: replication factor ${factor}`)),
    done(sim, `keyspace ${keyspace} replication factor ${factor}`, {
      _tag: "SetReplicationFactor",
      keyspace,
      replicationFactor: factor,
    }),
  )

/** See `AppSim.settled`. */
export const settled = (sim: PlacementSim, what: string, timeoutMs = 120_000) =>
  waitUntil(sim, what, (o) => fullyReplicated(o) ?? hostingMatches(o), timeoutMs)
