/**
 * `Node`: one Flotilla process hosting many Raft groups. `NodeLive(config)` composes it over
 * the node's `LogStore`, `Transport` and `Bus`:
 *
 * - the loop (NodeLoop.ts): the fiber that drives the engine's rounds (Engine.ts): ingest,
 *   tick, collect Readies, ONE synced write, ONE send per destination node, apply, answer;
 * - group subscriptions (LeaderSubscriptions.ts): a replica subscribes to its group subject
 *   while it leads, and serves requests there through its `ShardKind` (GroupRequests.ts);
 * - liveness (Liveness.ts): pings, and silent nodes wake the quiesced groups they led;
 * - the replicas hosted (NodeGroups.ts, GroupKinds.ts): restart, creation, removal;
 * - the service's calls (GroupCalls.ts) and status (NodeStatus.ts).
 *
 * Shutdown (the layer's scope closing): the loop finishes its round and the writes under way,
 * every waiting caller is answered with `NodeStopping`, the group subscriptions are dropped,
 * and the store closes after us.
 */
import { Context, Effect, Layer, Option, type Scope, type Stream } from "effect"
import type { ConfChange } from "../raft/ConfChange.js"
import type { InvalidConfChange } from "../raft/Errors.js"
import type { GroupId, NodeId } from "../raft/Ids.js"
import type { ReplicaId } from "../raft/Types.js"
import type { LogStore } from "../storage/LogStore.js"
import type { Bus } from "../transport/Bus.js"
import type { Transport, TransportStats } from "../transport/Transport.js"
import * as GroupCalls from "./GroupCalls.js"
import {
  type LeaderSubscriptions,
  type LeadershipChange,
  makeLeaderSubscriptions,
} from "./LeaderSubscriptions.js"
import * as LeaderTasks from "./LeaderTasks.js"
import type { NodeConfig } from "./NodeConfig.js"
import { makeNodeContext, type NodeContext } from "./NodeContext.js"
import {
  type CreateGroupOptions,
  createGroup,
  expectReplica,
  type GroupExists,
  removeReplica,
  restartStoredGroups,
} from "./NodeGroups.js"
import { NodeLoop } from "./NodeLoop.js"
import {
  allGroupStatus,
  forEachReplica,
  type GroupStatus,
  groupStatus,
  type NodeStats,
  nodeStats,
  type ReplicaBrief,
} from "./NodeStatus.js"
import type { GroupStopped, RuntimeError } from "./RuntimeErrors.js"
import type { RuntimeMetrics } from "./RuntimeMetrics.js"
import type { SnapshotRead } from "./SnapshotRead.js"
import type { StateMachine } from "./StateMachine.js"

export type { LeadershipChange } from "./LeaderSubscriptions.js"
export { type NodeConfig, NodeSettings } from "./NodeConfig.js"
export { type CreateGroupOptions, GroupExists } from "./NodeGroups.js"
export type { GroupStatus, NodeStats, ReplicaBrief } from "./NodeStatus.js"
export type { SnapshotRead } from "./SnapshotRead.js"

export interface NodeService {
  readonly nodeId: NodeId
  /** Creates a replica here (bootstrapping a new group, or empty to be filled by the leader). */
  readonly createGroup: (o: CreateGroupOptions) => Effect.Effect<void, GroupExists | GroupStopped>
  /** Allows the replica `replicaId` of `groupId` to be created when its first message arrives. */
  readonly expectReplica: (groupId: GroupId, replicaId: ReplicaId, kind?: string) => Effect.Effect<void>
  /** Replicates `command`; succeeds with the state machine's reply once applied. */
  readonly propose: (groupId: GroupId, command: Uint8Array) => Effect.Effect<Uint8Array, RuntimeError>
  /** Reads through the state machine: linearizable (ReadIndex) unless `stale`. */
  readonly read: (
    groupId: GroupId,
    query: Uint8Array,
    options?: { readonly stale?: boolean },
  ) => Effect.Effect<Uint8Array, RuntimeError>
  /**
   * The whole state of the group's state machine at a linearizable read point, with the index
   * and term of the last entry it reflects; only the group's leader answers (`NotLeader`).
   */
  readonly readSnapshot: (groupId: GroupId) => Effect.Effect<SnapshotRead, RuntimeError>
  /** Serves one raw request as the group subject does (errors encoded by the group's kind). */
  readonly request: (groupId: GroupId, request: Uint8Array) => Effect.Effect<Uint8Array>
  /** `request` answered through a callback, called once (the KV gateway's in-process path). */
  readonly serve: (groupId: GroupId, request: Uint8Array, answer: (reply: Uint8Array) => void) => void
  /** Whether this node's replica of `groupId` leads it now (a hint: leadership may move). */
  readonly leads: (groupId: GroupId) => boolean
  /** Proposes a membership change; succeeds once it is applied here. */
  readonly proposeConfChange: (
    groupId: GroupId,
    cc: ConfChange,
  ) => Effect.Effect<void, RuntimeError | InvalidConfChange>
  /** Asks the group's leader to hand leadership to `to`. */
  readonly transferLeader: (groupId: GroupId, to: ReplicaId) => Effect.Effect<void, RuntimeError>
  /** Drops this node's replica of the group and wipes its data. */
  readonly removeReplica: (groupId: GroupId) => Effect.Effect<void>
  readonly status: (groupId: GroupId) => Effect.Effect<Option.Option<GroupStatus>>
  readonly groups: Effect.Effect<ReadonlyArray<GroupStatus>>
  readonly stats: Effect.Effect<NodeStats>
  /**
   * Calls `f` with a brief of every hosted replica (metrics, health: cheaper than `groups`); the
   * brief is one object refilled per replica: read it in `f`, never keep it.
   */
  readonly forEachReplica: (f: (brief: ReplicaBrief) => void) => Effect.Effect<void>
  /** The runtime's histograms, counters and progress marks (live: read, never write). */
  readonly metrics: RuntimeMetrics
  /** The Raft transport's counters. */
  readonly transportStats: Effect.Effect<TransportStats>
  /** Leadership changes of hosted groups, as they happen (subscribe before acting). */
  readonly leadership: Stream.Stream<LeadershipChange>
  /**
   * The state machine of a hosted group, for in-process readers on this node (the metadata
   * driver reads group 0's state). Read it only between engine rounds, never mutate it.
   */
  readonly localStateMachine: (groupId: GroupId) => Option.Option<StateMachine>
}

/** The node of this process. */
export class Node extends Context.Tag("flotilla/Node")<Node, NodeService>() {}

/**
 * A node over the `LogStore`, `Transport` and `Bus` in context, and the `GroupCatalog` when
 * one is provided (otherwise kinds are kept in memory only).
 */
export const NodeLive = (config: NodeConfig): Layer.Layer<Node, never, LogStore | Transport | Bus> =>
  Layer.scoped(Node, make(config))

const make = (
  config: NodeConfig,
): Effect.Effect<NodeService, never, LogStore | Transport | Bus | Scope.Scope> =>
  Effect.gen(function* () {
    const ctx = yield* makeNodeContext(config)
    // Hooks the transport's arrivals before anything can arrive.
    const loop = new NodeLoop(ctx)
    yield* restartStoredGroups(ctx)
    // Acquired in this order, released in reverse: the loop stops (answering every caller)
    // before the beat, the liveness listener and the group subscriptions go.
    const subscriptions = yield* makeLeaderSubscriptions(ctx)
    yield* ctx.liveness.listen(ctx.nowMs)
    yield* loop.start(subscriptions)
    const service = nodeService(ctx, subscriptions)
    // Kinds' leader tasks; interrupted first when the node's scope closes.
    const kinds = LeaderTasks.resolver(config.kinds, (g) => ctx.kinds.kindFor(g), config.kindOf !== undefined)
    const led = Effect.sync(() => {
      const out: GroupId[] = []
      for (const r of ctx.engine.replicas.values())
        if (r.isLeader && r.stopped === undefined) out.push(r.groupId)
      return out
    })
    yield* Effect.forkScoped(LeaderTasks.run({ ...service, led }, kinds, ctx.nowMs))
    return service
  })

const nodeService = (ctx: NodeContext, subscriptions: LeaderSubscriptions): NodeService => ({
  nodeId: ctx.nodeId,
  createGroup: (o) => createGroup(ctx, o),
  expectReplica: (groupId, replicaId, kind) => expectReplica(ctx, groupId, replicaId, kind),
  propose: (groupId, command) => GroupCalls.propose(ctx, groupId, command),
  read: (groupId, query, options) => GroupCalls.read(ctx, groupId, query, options?.stale === true),
  readSnapshot: (groupId) => GroupCalls.readSnapshot(ctx, groupId),
  request: (groupId, request) => GroupCalls.request(ctx, groupId, request),
  serve: (groupId, request, answer) => GroupCalls.serve(ctx, groupId, request, answer),
  leads: (groupId) => ctx.engine.replicas.get(groupId)?.isLeader === true,
  proposeConfChange: (groupId, cc) => GroupCalls.proposeConfChange(ctx, groupId, cc),
  transferLeader: (groupId, to) => GroupCalls.transferLeader(ctx, groupId, to),
  removeReplica: (groupId) => removeReplica(ctx, groupId),
  status: (groupId) => Effect.sync(() => groupStatus(ctx, groupId)),
  groups: Effect.sync(() => allGroupStatus(ctx)),
  stats: Effect.map(ctx.transport.stats, (transport) => nodeStats(ctx, transport)),
  forEachReplica: (f) => Effect.sync(() => forEachReplica(ctx, f)),
  metrics: ctx.engine.metrics,
  transportStats: ctx.transport.stats,
  leadership: subscriptions.changes,
  localStateMachine: (groupId) =>
    Option.map(Option.fromNullable(ctx.engine.replicas.get(groupId)), (r) => r.sm),
})
