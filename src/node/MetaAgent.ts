/**
 * The metadata agent: one per node of a cluster managed by the metadata group. It
 *
 * 1. registers the node again at start with its identity token (a restart rejoins as itself
 *    and refreshes its name and labels);
 * 2. heartbeats to the metadata leader every `reportIntervalMs`, each heartbeat carrying the
 *    node's load report: every hosted replica with its role, leadership, term, applied index,
 *    size, and for the groups it leads the applied configuration (`NodeLoad`);
 * 3. fetches the shard map whenever the heartbeat answer shows a newer version than the one it
 *    holds (asking "anything newer than v?", so an unchanged map costs a `NotModified`), and
 *    keeps it in `NodeShardMap` (which also answers the node's `ownsSlot`);
 * 4. reconciles the local replicas with the map (`planLocalReplicas`), in a loop of its own so
 *    that heartbeats never wait for it: creates the replicas the map assigns here, removes
 *    those it no longer lists, records their kinds in the group catalog (through
 *    `createGroup`), and never re-creates a replica id removed here.
 *
 * Failures (no metadata leader, timeouts) are logged and retried at the next beat: the agent
 * never stops the node. A node the cluster removed stops heartbeating; it keeps fetching the map
 * and removing what the map no longer lists until it hosts nothing (the drain may have finished
 * just before its last map fetch).
 */
import { Clock, Effect, Layer, Schedule } from "effect"
import { call, callUntilAnswered } from "../client/MetaCall.js"
import { type Labels, META_KIND } from "../meta/ClusterState.js"
import {
  type HostedReplica,
  type LocalAction,
  planLocalReplicas,
  tombstoneKey,
} from "../meta/LocalReplicas.js"
import { type NodeLoad, type ReplicaReport, splitLoad } from "../meta/NodeReport.js"
import { completeShardMap } from "../meta/PagedShardMap.js"
import type { GroupId } from "../raft/Ids.js"
import type { ReplicaId } from "../raft/Types.js"
import { type GroupStatus, Node, type NodeService } from "../runtime/Node.js"
import { supervise } from "../runtime/Supervisor.js"
import { Bus, type BusService } from "../transport/Bus.js"
import { clusterSubjects } from "../transport/Subjects.js"
import { heartbeatProof } from "./HeartbeatProof.js"
import { note, noteAt } from "./NodeObservations.js"
import { NodeShardMap, type NodeShardMapService } from "./NodeShardMap.js"

/** Options of the agent. */
export interface MetaAgentOptions {
  readonly cluster: string
  readonly subjectPrefix?: string
  /** This node's identity token (NodeIdentity.ts). */
  readonly token: string
  readonly name: string
  readonly labels: Labels
  /** The state machine kinds this node can host (names of `NodeConfig.kinds`). */
  readonly kinds: ReadonlyArray<string>
  /** Between heartbeats (default 1,000 ms). */
  readonly reportIntervalMs?: number
  /** Per request to the metadata leader (default 2,000 ms). */
  readonly requestTimeoutMs?: number
}

/** The load report of a node from its replicas' status. */
export const loadReport = (
  node: NodeService["nodeId"],
  at: number,
  groups: ReadonlyArray<GroupStatus>,
): NodeLoad => ({
  node,
  at,
  replicas: groups.map((g): ReplicaReport => {
    const leads = g.isLeader && g.stopped === undefined
    return {
      group: g.groupId,
      replica: g.replicaId,
      role: g.voters.includes(g.replicaId) ? "voter" : "learner",
      leader: leads,
      term: g.term,
      applied: g.applied,
      sizeBytes: g.sizeBytes,
      ...(leads
        ? {
            membership: {
              confVersion: g.confVersion,
              voters: g.incoming,
              learners: g.learners,
              votersOutgoing: g.outgoing,
              learnersNext: g.learnersNext,
              autoLeave: g.autoLeave,
            },
          }
        : {}),
    }
  }),
})

/** Carries out one reconciliation action; failures are logged. */
const act = (node: NodeService, a: LocalAction, tombstones: Set<string>) => {
  switch (a._tag) {
    case "Create":
      return node
        .createGroup({
          groupId: a.group,
          replicaId: a.replica,
          kind: a.kind,
          ...(a.bootstrap === undefined ? {} : { bootstrap: { voters: a.bootstrap } }),
          campaign: a.campaign === true,
        })
        .pipe(
          Effect.tap(() =>
            Effect.logInfo(
              `group ${a.group}: created replica ${a.replica} (${a.kind}${a.bootstrap === undefined ? ", empty" : ", initial voter"})`,
            ),
          ),
          Effect.catchAll((e) =>
            Effect.logWarning(`group ${a.group}: cannot create replica ${a.replica}: ${e._tag}`),
          ),
        )
    case "Remove":
      return Effect.gen(function* () {
        tombstones.add(tombstoneKey(a.group, a.replica))
        yield* node.removeReplica(a.group)
        yield* Effect.logInfo(`group ${a.group}: removed replica ${a.replica} (${a.why})`)
      })
    case "Skip":
      return Effect.void
  }
}

/** What the agent's steps share: its services, settings and the state it keeps between rounds. */
interface Agent {
  readonly options: MetaAgentOptions
  readonly node: NodeService
  readonly bus: BusService
  readonly cache: NodeShardMapService
  readonly subject: string
  readonly timeout: number
  readonly kinds: ReadonlySet<string>
  /** The replicas removed here (`tombstoneKey`): never created again. */
  readonly tombstones: Set<string>
  /** Replicas seen hosted here: one that vanishes was removed by its group (tombstoned). */
  readonly seen: Map<GroupId, ReplicaId>
  readonly skipped: Set<string>
  /** The node was removed from the cluster (its registration or heartbeat said so). */
  removed: boolean
  /** Removed and hosting nothing: the agent has nothing left to do. */
  finished: boolean
}

/** Registers the node with its identity token, waiting as long as it takes for a metadata leader. */
const register = (agent: Agent) =>
  callUntilAnswered(
    agent.bus,
    agent.subject,
    {
      _tag: "RegisterNode",
      token: agent.options.token,
      name: agent.options.name,
      labels: agent.options.labels,
      // Every start declares its kinds again: keyspace admission checks them.
      kinds: [...agent.kinds].filter((k) => k !== META_KIND),
    },
    {
      timeout: agent.timeout,
      onRetry: (attempt, why) =>
        attempt % 10 === 0
          ? Effect.logInfo(
              `waiting for a metadata leader on ${agent.subject} (${attempt} attempts, last: ${why})`,
            )
          : Effect.void,
    },
  ).pipe(
    Effect.flatMap((reply) => {
      if (reply._tag === "NodeRegistered" && reply.node === agent.node.nodeId)
        return noteAt((o, now) => {
          o.meta.registeredAt = now
        })
      if (reply._tag === "NodeRemoved") agent.removed = true
      return Effect.logError(
        `the metadata group does not recognise node ${agent.node.nodeId}'s identity: ${JSON.stringify(reply)}`,
      )
    }),
    Effect.catchAll((e) => Effect.logError(`registration failed: ${e.message}`)),
  )

/** Fetches the shard map (every page) when the metadata group has a newer one than the cache. */
const fetchMap = (agent: Agent) =>
  Effect.gen(function* () {
    const { bus, subject, timeout, cache } = agent
    const reply = yield* call(
      bus,
      subject,
      { _tag: "GetShardMap", keyspace: "", knownVersion: cache.version() },
      timeout,
    )
    if (reply._tag !== "ShardMap") return
    const pageAt = (page: number) =>
      Effect.map(
        call(bus, subject, { _tag: "GetShardMap", keyspace: "", knownVersion: 0, page }, timeout),
        (r) => (r._tag === "ShardMap" ? r : undefined),
      )
    const map = yield* completeShardMap(reply, pageAt)
    if (map !== undefined) cache.update(map)
    else yield* Effect.logDebug("shard map fetch failed: its pages kept changing")
  }).pipe(Effect.catchAll((e) => Effect.logDebug(`shard map fetch failed: ${e._tag}`)))

/** Tombstones the replicas that vanished since the last round (removed by their own group). */
const noteRemovedReplicas = (agent: Agent, hosted: ReadonlyArray<HostedReplica>) =>
  Effect.gen(function* () {
    const now = new Map(hosted.map((h) => [h.group, h.replica]))
    for (const [group, replica] of agent.seen) {
      if (now.get(group) === replica) continue
      agent.seen.delete(group)
      if (agent.tombstones.has(tombstoneKey(group, replica))) continue
      // Removed by its group (it applied its own removal): remember, and drop its catalog entry.
      agent.tombstones.add(tombstoneKey(group, replica))
      if (!now.has(group)) yield* agent.node.removeReplica(group)
    }
  })

/** Brings the local replicas in line with the cached map. */
const reconcile = (agent: Agent) =>
  Effect.gen(function* () {
    const { node, tombstones } = agent
    const map = agent.cache.current()
    if (map === undefined) return
    const hosted: HostedReplica[] = (yield* node.groups).map((g) => ({
      group: g.groupId,
      replica: g.replicaId,
    }))
    yield* noteRemovedReplicas(agent, hosted)
    for (const a of planLocalReplicas(node.nodeId, map, hosted, tombstones, (k) => agent.kinds.has(k))) {
      if (a._tag === "Skip") {
        // A tombstoned replica still listed is the map lagging its group's removal: expected.
        if (tombstones.has(tombstoneKey(a.group, a.replica))) continue
        const key = `${a.group}/${a.replica}`
        if (!agent.skipped.has(key)) {
          agent.skipped.add(key)
          yield* Effect.logWarning(`group ${a.group}: replica ${a.replica} not created: ${a.why}`)
        }
        continue
      }
      yield* act(node, a, tombstones)
    }
    for (const g of yield* node.groups) agent.seen.set(g.groupId, g.replicaId)
  })

/** A removed node no longer heartbeats; it only follows the map until it hosts nothing. */
const afterRemoval = (agent: Agent) =>
  Effect.gen(function* () {
    yield* fetchMap(agent)
    yield* reconcile(agent)
    if ((yield* agent.node.groups).length === 0) agent.finished = true
  })

/** One heartbeat (in parts when large); answers with the last part's reply. */
const sendHeartbeat = (agent: Agent) =>
  Effect.gen(function* () {
    const { node, bus } = agent
    const at = yield* Clock.currentTimeMillis
    const load = loadReport(node.nodeId, at, yield* node.groups)
    // Half the payload limit leaves room for the request around the replicas.
    const parts = splitLoad(load, Math.floor(bus.maxPayload() / 2))
    const partOf = (index: number) => (parts.length > 1 ? { index, count: parts.length } : undefined)
    const send = (part: NodeLoad, index: number) =>
      call(
        bus,
        agent.subject,
        {
          _tag: "Heartbeat",
          node: node.nodeId,
          proof: heartbeatProof(agent.options.token, node.nodeId, part.at, partOf(index)),
          load: part,
          ...(parts.length > 1 ? { part: partOf(index)! } : {}),
        },
        agent.timeout,
      )
    // Every part is answered alike; the last answer stands for the heartbeat.
    let reply = yield* Effect.either(send(parts[0]!, 0))
    for (let i = 1; i < parts.length && reply._tag === "Right" && reply.right._tag === "HeartbeatAck"; i++)
      reply = yield* Effect.either(send(parts[i]!, i))
    return reply
  })

/** One heartbeat, and the map when the answer says it changed. */
const heartbeat = (agent: Agent) =>
  Effect.gen(function* () {
    if (agent.removed) return
    const reply = yield* sendHeartbeat(agent)
    if (reply._tag === "Left") {
      const why = reply.left._tag
      yield* note((o) => {
        o.meta.lastHeartbeatError = why
      })
      return yield* Effect.logDebug(`heartbeat failed: ${why}`)
    }
    const r = reply.right
    yield* noteAt((o, now) => {
      o.meta.lastHeartbeatAt = now
      o.meta.lastHeartbeatError = undefined
    })
    if (r._tag === "HeartbeatAck") {
      if (r.shardMapVersion > agent.cache.version()) yield* fetchMap(agent)
    } else if (r._tag === "NodeRemoved") {
      agent.removed = true
      yield* Effect.logError(`node ${agent.node.nodeId} was removed from the cluster: heartbeats stop`)
    } else {
      yield* Effect.logDebug(`heartbeat answered ${r._tag}`)
    }
  })

/**
 * Registration, then heartbeats and reconciliation in loops of their own: creating thousands of
 * replicas after a keyspace is made takes a minute, and heartbeats waiting for it would make the
 * node look dead to the placement driver (which would then replace its replicas).
 */
const run = (agent: Agent, follow: Effect.Effect<void>) =>
  Effect.gen(function* () {
    yield* register(agent)
    const every = agent.options.reportIntervalMs ?? 1000
    const loop = (round: Effect.Effect<void>, what: string) =>
      round.pipe(
        Effect.catchAllCause((cause) => Effect.logError(`metadata agent: ${what} failed`, cause)),
        Effect.repeat(Schedule.spaced(every).pipe(Schedule.whileOutput(() => !agent.finished))),
      )
    yield* Effect.all([loop(heartbeat(agent), "heartbeat round"), loop(follow, "reconciliation")], {
      concurrency: 2,
      discard: true,
    })
  })

/** The agent's state and steps, for the layer and for tests that drive it by hand. */
export const make = (options: MetaAgentOptions) =>
  Effect.gen(function* () {
    const node = yield* Node
    const cache: NodeShardMapService = yield* NodeShardMap
    const agent: Agent = {
      options,
      node,
      bus: yield* Bus,
      cache,
      subject: clusterSubjects(options.cluster, options.subjectPrefix).metaOf("internal"),
      timeout: options.requestTimeoutMs ?? 2000,
      kinds: new Set(options.kinds),
      tombstones: new Set<string>(),
      seen: new Map<GroupId, ReplicaId>(),
      skipped: new Set<string>(),
      removed: false,
      finished: false,
    }
    /** Brings the local replicas in line with the map (after removal: until none is left). */
    const follow = Effect.suspend(() => (agent.removed ? afterRemoval(agent) : reconcile(agent))).pipe(
      Effect.zipLeft(
        noteAt((o, now) => {
          o.meta.reconciledAt = now
        }),
      ),
    )
    return {
      register: register(agent),
      heartbeat: heartbeat(agent),
      /** A heartbeat, then a reconciliation: one round, for tests that drive the agent by hand. */
      beat: Effect.zipRight(heartbeat(agent), follow),
      fetchMap: fetchMap(agent),
      reconcile: reconcile(agent),
      run: run(agent, follow),
      /** Whether the agent is done (the node was removed and holds no replica). */
      finished: () => agent.finished,
      tombstones: agent.tombstones,
      cache,
    }
  })

/** Runs the agent for the layer's lifetime. */
export const layer = (options: MetaAgentOptions): Layer.Layer<never, never, Node | Bus | NodeShardMap> =>
  Layer.scopedDiscard(
    Effect.flatMap(make(options), (agent) =>
      // Its rounds catch their own failures; the loop ends by returning only after the node's removal.
      Effect.forkScoped(supervise("metadata agent", agent.run, { mayEnd: agent.finished })),
    ),
  )
