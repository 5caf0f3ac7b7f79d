/**
 * `Node`: one Flotilla process hosting many Raft groups. `NodeLive(config)` runs the engine
 * (Engine.ts) in a fiber over the node's `LogStore`, `Transport` and `Bus`:
 *
 * - the loop fiber: wait for work or the next tick → ingest inbound frames, tick, drain
 *   mailboxes → collect Readies → ONE synced `LogStore.write` → ONE `Transport.send` per
 *   destination node → apply, answer callers → repeat;
 * - an inbound pump that moves decoded frames to the engine and wakes the loop;
 * - leader-only group subscriptions: a replica that becomes leader subscribes to
 *   `flotilla.<c>.group.<gid>` and serves requests through its `ShardKind`; it unsubscribes
 *   when it loses leadership, so NATS itself routes requests to the leader;
 * - node liveness: a ping on `flotilla.<c>.live.<node>` every interval; a node silent for the
 *   liveness timeout wakes the quiesced groups it led (docs/decisions/0004).
 *
 * Shutdown (the layer's scope closing): the loop finishes its round, every waiting caller is
 * answered with `NodeStopping`, subscriptions are drained, and the store closes after us.
 */
import {
  Cause,
  Clock,
  Context,
  Effect,
  Exit,
  type Fiber,
  FiberMap,
  Layer,
  Option,
  PubSub,
  Schema,
  Stream,
} from "effect"
import type { ConfChange } from "../raft/ConfChange.js"
import type { InvalidConfChange } from "../raft/Errors.js"
import { type GroupId, isNodeId, type NodeId } from "../raft/Ids.js"
import type { MemoryStorage } from "../raft/Storage.js"
import type { ReplicaId } from "../raft/Types.js"
import { LogStore } from "../storage/LogStore.js"
import { toMemoryStorage } from "../storage/Restore.js"
import { Bus, type BusMessage } from "../transport/Bus.js"
import { clusterSubjects } from "../transport/Subjects.js"
import { Transport } from "../transport/Transport.js"
import { Engine, type EngineOptions, type Outbound, type WriteRound } from "./Engine.js"
import { GroupCatalog } from "./GroupCatalog.js"
import type { MailboxItem, Replica, Waiter } from "./Replica.js"
import { ownReplicaId } from "./ReplicaStorage.js"
import { decodeBatch, encodeBatch, encodeBatchError } from "./RequestBatch.js"
import {
  BadRequest,
  GroupNotFound,
  GroupStopped,
  NodeStopping,
  ProposalFailed,
  type RuntimeError,
  WrongShard,
} from "./RuntimeErrors.js"
import type { ShardKind } from "./ShardKind.js"
import type { StateMachine } from "./StateMachine.js"

/** Numeric settings of a node, validated and defaulted by Schema (they come from flags and files). */
export const NodeSettings = Schema.Struct({
  /** Milliseconds per Raft tick. */
  tickMs: Schema.optionalWith(Schema.Int.pipe(Schema.between(5, 10_000)), { default: () => 100 }),
  /** Ticks before a follower without a leader campaigns (randomized to [n, 2n)). */
  electionTicks: Schema.optionalWith(Schema.Int.pipe(Schema.between(2, 1000)), { default: () => 10 }),
  /** Ticks between a leader's heartbeats. */
  heartbeatTicks: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 500)), { default: () => 1 }),
  /** Requests waiting per replica before `Overloaded`. */
  mailboxCapacity: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1_000_000)), {
    default: () => 4096,
  }),
  /** Entries applied between snapshots. */
  snapshotEntries: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100_000_000)), {
    default: () => 10_000,
  }),
  /** Entries kept behind a snapshot. */
  keepEntries: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 100_000_000)), { default: () => 1_000 }),
  /** How long snapshot data stays in memory after use. */
  snapshotCacheMs: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 3_600_000)), {
    default: () => 30_000,
  }),
  /** Idle ticks before a leader quiesces its group (0: never). */
  quiesceAfterTicks: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 100_000)), { default: () => 20 }),
  /** Liveness ping interval. */
  livenessIntervalMs: Schema.optionalWith(Schema.Int.pipe(Schema.between(10, 60_000)), {
    default: () => 1000,
  }),
  /** Silence after which a node counts as down (wakes the quiesced groups it led). */
  livenessTimeoutMs: Schema.optionalWith(Schema.Int.pipe(Schema.between(20, 600_000)), {
    default: () => 3000,
  }),
})
export type NodeSettings = Schema.Schema.Type<typeof NodeSettings>

export interface NodeConfig {
  readonly nodeId: NodeId
  readonly cluster: string
  readonly subjectPrefix?: string
  /**
   * The state machine kinds this node can host, by name. A group's kind is the one recorded
   * in the `GroupCatalog` when it was created (`createGroup`/`expectReplica` with `kind`);
   * otherwise `kindOf` decides, otherwise the first kind listed here.
   */
  readonly kinds?: ReadonlyArray<ShardKind>
  /** The kind of a group the catalog does not name. */
  readonly kindOf?: (groupId: GroupId) => ShardKind
  /**
   * Whether `groupId` owns hash slot `slot` (from the shard map); `undefined` when unknown
   * (the request is then served). Requests whose kind reports a slot are checked.
   */
  readonly ownsSlot?: (groupId: GroupId, slot: number) => boolean | undefined
  readonly settings?: Schema.Schema.Encoded<typeof NodeSettings>
  /** Raft settings beyond ticks (pre-vote, check-quorum, message sizes, ...). */
  readonly raft?: EngineOptions["raft"]
}

/** What a node reports of one hosted replica. */
export interface GroupStatus {
  readonly groupId: GroupId
  readonly replicaId: ReplicaId
  readonly kind: string
  readonly isLeader: boolean
  readonly leaderNode: NodeId | undefined
  /** The leading replica (0 when unknown). */
  readonly leader: ReplicaId
  readonly term: number
  readonly commit: number
  readonly applied: number
  readonly lastIndex: number
  readonly quiesced: boolean
  readonly stopped: string | undefined
  /** Every voter, incoming and outgoing. */
  readonly voters: readonly ReplicaId[]
  /** The voters of the incoming configuration (in a joint configuration: the new one). */
  readonly incoming: readonly ReplicaId[]
  readonly learners: readonly ReplicaId[]
  /** In a joint configuration: the outgoing voters (else empty). */
  readonly outgoing: readonly ReplicaId[]
  /** Learners-to-be when the joint configuration is left. */
  readonly learnersNext: readonly ReplicaId[]
  /** Log index of the applied configuration (see `Replica.confVersion`). */
  readonly confVersion: number
  /** In a joint configuration: whether it is left automatically. */
  readonly autoLeave: boolean
  /** Approximate bytes of replicated state (latest snapshot + entries applied since). */
  readonly sizeBytes: number
  /** On the leader: each member's replicated index (match). */
  readonly progress: ReadonlyArray<{
    readonly replica: ReplicaId
    readonly match: number
    readonly learner: boolean
  }>
}

/** A change of a group's leadership as seen by this node. */
export interface LeadershipChange {
  readonly groupId: GroupId
  readonly isLeader: boolean
  readonly leaderNode: NodeId | undefined
  readonly term: number
}

export interface NodeStats {
  readonly groups: number
  readonly activeGroups: number
  readonly leaders: number
  readonly rounds: number
  readonly messagesIn: number
  readonly messagesOut: number
  readonly quiesces: number
  readonly wakes: number
  readonly snapshotsInstalled: number
  readonly refusedMessages: number
  readonly droppedUnknownGroup: number
  /** Replies to bus requests that could not be sent (connection down, payload too large). */
  readonly unsentReplies: number
  readonly nodesDown: readonly NodeId[]
}

/** The group already has a replica on this node. */
export class GroupExists extends Schema.TaggedError<GroupExists>()("GroupExists", {
  groupId: Schema.Number,
}) {}

export interface CreateGroupOptions {
  readonly groupId: GroupId
  readonly replicaId: ReplicaId
  /** The kind's name (recorded in the catalog); default: see `NodeConfig.kinds`. */
  readonly kind?: string
  /** Bootstrap a new group: every initial member is created with the same members. */
  readonly bootstrap?: { readonly voters: readonly ReplicaId[]; readonly learners?: readonly ReplicaId[] }
  /**
   * Campaign as soon as the bootstrap is applied, rather than after an election timeout: the
   * one initial member chosen to lead first (spreads leaders, no election storm at startup).
   */
  readonly campaign?: boolean
}

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
  /** Serves one raw request as the group subject does (errors encoded by the group's kind). */
  readonly request: (groupId: GroupId, request: Uint8Array) => Effect.Effect<Uint8Array>
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

const ascending = (ids: Iterable<ReplicaId>) => [...ids].sort((a, b) => a - b)

const statusOf = (r: Replica): GroupStatus => {
  const st = r.raw.status()
  return {
    groupId: r.groupId,
    replicaId: r.id,
    kind: r.kind.name,
    isLeader: r.isLeader,
    leaderNode: r.leaderNode(),
    leader: r.raw.leader,
    term: st.hardState.term,
    commit: st.hardState.commit,
    applied: st.applied,
    lastIndex: st.lastIndex,
    quiesced: r.quiesced,
    stopped: r.stopped,
    voters: ascending(new Set([...st.config.incoming, ...st.config.outgoing])),
    incoming: ascending(st.config.incoming),
    learners: ascending(st.config.learners),
    outgoing: ascending(st.config.outgoing),
    learnersNext: ascending(st.config.learnersNext),
    confVersion: r.confVersion,
    autoLeave: st.config.autoLeave,
    sizeBytes: r.dataBytes,
    progress: [...st.progress].map(([replica, pr]) => ({ replica, match: pr.match, learner: pr.isLearner })),
  }
}

/**
 * A node over the `LogStore`, `Transport` and `Bus` in context, and the `GroupCatalog` when
 * one is provided (otherwise kinds are kept in memory only).
 */
export const NodeLive = (config: NodeConfig): Layer.Layer<Node, never, LogStore | Transport | Bus> =>
  Layer.scoped(Node, make(config))

const make = (config: NodeConfig) =>
  Effect.gen(function* () {
    if (!isNodeId(config.nodeId)) return yield* Effect.dieMessage(`invalid node id ${config.nodeId}`)
    const settings = yield* Schema.decodeUnknown(NodeSettings)(config.settings ?? {}).pipe(Effect.orDie)
    const store = yield* LogStore
    const transport = yield* Transport
    const bus = yield* Bus
    const subjects = clusterSubjects(config.cluster, config.subjectPrefix)
    const nodeId = config.nodeId
    const catalog = Option.getOrElse(yield* Effect.serviceOption(GroupCatalog), () => memoryCatalog())
    const kindsByName = new Map((config.kinds ?? []).map((k) => [k.name, k]))
    const kindFor = (groupId: GroupId): ShardKind => {
      const named = catalog.kindOf(groupId)
      const k = named === undefined ? undefined : kindsByName.get(named)
      if (k !== undefined) return k
      if (config.kindOf !== undefined) return config.kindOf(groupId)
      const first = config.kinds?.[0]
      if (first === undefined) throw new RangeError("NodeConfig needs `kinds` or `kindOf`")
      return first
    }
    const recordKind = (groupId: GroupId, kind: string | undefined) =>
      kind === undefined
        ? Effect.void
        : kindsByName.has(kind)
          ? catalog.set(groupId, kind).pipe(Effect.orDie)
          : Effect.dieMessage(`node ${config.nodeId} has no state machine kind "${kind}"`)
    const leadershipHub = yield* PubSub.unbounded<LeadershipChange>()
    const clock = yield* Effect.clock
    const nowMs = () => clock.unsafeCurrentTimeMillis()
    const engine = new Engine({
      nodeId,
      electionTicks: settings.electionTicks,
      heartbeatTicks: settings.heartbeatTicks,
      mailboxCapacity: settings.mailboxCapacity,
      snapshotEntries: settings.snapshotEntries,
      keepEntries: settings.keepEntries,
      snapshotCacheMs: settings.snapshotCacheMs,
      quiesceAfterTicks: settings.quiesceAfterTicks,
      raft: config.raft,
    })

    // Wake-up signal for the loop, raised from synchronous callbacks (bus, transport, writes).
    // A plain callback rather than a queue and a race: the loop waits on it every iteration.
    let wakePending = false
    let waiter: ((done: Effect.Effect<void>) => void) | undefined
    const signal = () => {
      const w = waiter
      if (w === undefined) wakePending = true
      else {
        waiter = undefined
        w(Effect.void)
      }
    }
    const waitForSignal = Effect.async<void>((resume) => {
      if (wakePending) {
        wakePending = false
        resume(Effect.void)
        return
      }
      waiter = resume
      return Effect.sync(() => {
        if (waiter === resume) waiter = undefined
      })
    })
    let inboundWaiting = false
    let tickDue = false
    transport.unsafeOnInbound(() => {
      inboundWaiting = true
      signal()
    })
    /** Answers to bus requests, sent together once per loop iteration (one socket write). */
    const replies: Array<{ readonly msg: BusMessage; readonly data: Uint8Array }> = []
    let unsentReplies = 0
    const flushReplies = () => {
      for (const r of replies) if (!r.msg.unsafeRespond(r.data) && r.msg.reply !== undefined) unsentReplies++
      replies.length = 0
    }

    // Node liveness: last time each node was heard from, and which are down now.
    const lastHeard = new Map<NodeId, number>()
    const down = new Set<NodeId>()
    const heard = (node: NodeId, now: number) => {
      lastHeard.set(node, now)
      down.delete(node)
    }

    // Restart every group the store holds.
    const stored = yield* store.groups.pipe(Effect.orDie)
    for (const groupId of stored) {
      const loaded = yield* Effect.either(store.load(groupId))
      if (loaded._tag === "Left") {
        yield* Effect.logError(`group ${groupId} cannot be loaded and stays stopped: ${loaded.left.message}`)
        continue
      }
      const mem: MemoryStorage = toMemoryStorage(loaded.right)
      const replicaId = ownReplicaId(mem, nodeId)
      if (replicaId === undefined) {
        yield* Effect.logWarning(`group ${groupId}: stored state does not name this node's replica; skipped`)
        continue
      }
      yield* Effect.try(() =>
        engine.createReplica({ groupId, replicaId, kind: kindFor(groupId), storage: mem }),
      ).pipe(Effect.catchAll((e) => Effect.logError(`group ${groupId} failed to restart: ${String(e)}`)))
    }

    // ----- the loop
    /** Writes that finished (in the order the store completed them), waiting to be completed. */
    const finishedWrites: Array<{ round: WriteRound; failed: ReadonlyMap<GroupId, string> | string }> = []
    let writesInFlight = 0

    const loop = Effect.gen(function* () {
      let nextLiveness = 0
      let nextExpiry = 0
      const outbound: Outbound = new Map()
      while (!engine.stopping || writesInFlight > 0 || finishedWrites.length > 0) {
        // Stopping, only finished writes matter: new work and arrivals are no longer taken in.
        const idle = engine.stopping ? true : !engine.hasWork() && !inboundWaiting
        if (idle && finishedWrites.length === 0) yield* waitForSignal
        const now = yield* Clock.currentTimeMillis
        // Writes that completed: their Readies finish, their waiting messages join this flush.
        for (const w of finishedWrites.splice(0)) {
          if (typeof w.failed === "string") engine.fail(w.round, "all", w.failed)
          else if (w.failed.size > 0)
            for (const [g, reason] of w.failed) engine.fail(w.round, new Set([g]), reason)
          engine.completeWrite(w.round, now, outbound)
        }
        if (!engine.stopping) {
          if (inboundWaiting) {
            inboundWaiting = false
            for (const b of yield* transport.takeAll) {
              heard(b.from, now)
              engine.ingest(b)
            }
          }
          if (tickDue) {
            tickDue = false
            engine.tick()
          }
          const round = engine.collect(outbound, now)
          if (round !== undefined) {
            writesInFlight++
            yield* Effect.forkDaemon(write(round))
          }
        }
        for (const [to, envelopes] of outbound) yield* transport.send(to, envelopes)
        outbound.clear()
        for (const change of engine.takeLeadershipChanges()) yield* onLeadership(change)
        for (const g of engine.removals.splice(0)) {
          yield* store
            .removeGroup(g)
            .pipe(
              Effect.catchAll((e) =>
                Effect.logError(`group ${g}: wiping removed replica failed: ${e.message}`),
              ),
            )
        }
        for (const g of engine.snapshotLoads) yield* Effect.forkIn(loadSnapshot(g), scope)
        engine.snapshotLoads.clear()
        if (replies.length > 0) flushReplies()
        if (now >= nextLiveness && !engine.stopping) {
          nextLiveness = now + settings.livenessIntervalMs
          yield* bus.publish(`${subjects.root}.live.${nodeId}`, EMPTY).pipe(Effect.ignore)
          for (const [node, t] of lastHeard) {
            if (node !== nodeId && !down.has(node) && now - t > settings.livenessTimeoutMs) {
              down.add(node)
              yield* Effect.logWarning(`node ${node} silent for ${now - t} ms: waking the groups it led`)
              engine.nodeDown(node)
            }
          }
        }
        if (now >= nextExpiry) {
          nextExpiry = now + 1000
          engine.expireCaches(now)
        }
      }
    })

    /**
     * Persists one round (`persist`) and reports its outcome to the loop, always exactly once:
     * the loop counts on it to finish. Run as a daemon, uninterruptible: a write under way
     * finishes even while the node closes (the store closes after the node), and a write
     * started during the close is not lost in a scope that is already closing.
     */
    const write = (round: WriteRound) =>
      persist(round).pipe(
        Effect.exit,
        Effect.flatMap((exit) =>
          Effect.sync(() => {
            const failed = Exit.isSuccess(exit) ? exit.value : `the write failed: ${Cause.pretty(exit.cause)}`
            finishedWrites.push({ round, failed })
            writesInFlight--
            signal()
          }),
        ),
        Effect.uninterruptible,
      )

    /**
     * Persists one round. A group whose data the store finds corrupt is dropped from the batch
     * (its replica stops) and the rest is written again; any other failure fails the round.
     */
    const persist = (round: WriteRound) =>
      Effect.gen(function* () {
        const failed = new Map<GroupId, string>()
        let updates = round.updates
        let outcome: ReadonlyMap<GroupId, string> | string = failed
        while (updates.length > 0) {
          const r = yield* Effect.either(store.write(updates, { sync: round.sync }))
          if (r._tag === "Right") break
          const e = r.left
          if ("groupId" in e && !failed.has(e.groupId as GroupId)) {
            const g = e.groupId as GroupId
            yield* Effect.logError(`group ${g} stopped: ${e.message}`)
            failed.set(g, e.message)
            updates = updates.filter((u) => u.groupId !== g)
            continue
          }
          yield* Effect.logError(`store write failed; the groups of this round stop: ${e.message}`)
          outcome = e.message
          break
        }
        return outcome
      })

    const loadSnapshot = (groupId: GroupId) =>
      store.loadSnapshot(groupId).pipe(
        Effect.flatMap((snap) =>
          Effect.gen(function* () {
            const now = yield* Clock.currentTimeMillis
            const r = engine.replicas.get(groupId)
            if (Option.isSome(snap) && r !== undefined) {
              r.storage.cacheData(snap.value.metadata.index, snap.value.data, now + settings.snapshotCacheMs)
            }
          }),
        ),
        Effect.catchAll((e) => Effect.logError(`group ${groupId}: loading snapshot failed: ${e.message}`)),
      )

    // ----- leader-only group subscriptions
    const scope = yield* Effect.scope
    const subscriptions = yield* FiberMap.make<GroupId>()
    // Requests are handled synchronously in the bus's callback: routed, queued in the replica's
    // mailbox and answered from the loop, with no fiber or stream per request.
    const serveGroup = (r: Replica) =>
      Effect.scoped(
        Effect.gen(function* () {
          yield* bus.subscribe(subjects.group(r.groupId), {
            handler: (msg) => {
              serveRequest(r.groupId, msg.data, nowMs(), (data) => replies.push({ msg, data }))
              signal()
            },
          })
          // Batches: many requests in one message, answered in one message (RequestBatch.ts).
          yield* bus.subscribe(`${subjects.group(r.groupId)}.batch`, {
            handler: (msg) => {
              const parts = decodeBatch(msg.data)
              if (typeof parts === "string") {
                replies.push({ msg, data: encodeBatchError(parts) })
              } else {
                const answers: Uint8Array[] = new Array(parts.length)
                let missing = parts.length
                const now = nowMs()
                parts.forEach((part, i) => {
                  serveRequest(r.groupId, part, now, (data) => {
                    answers[i] = data
                    if (--missing === 0) replies.push({ msg, data: encodeBatch(answers) })
                  })
                })
              }
              signal()
            },
          })
          return yield* Effect.never
        }),
      ).pipe(Effect.catchAll((e) => Effect.logError(`group ${r.groupId}: subscription failed: ${e.message}`)))
    const onLeadership = (r: Replica) =>
      Effect.zipRight(
        PubSub.publish(leadershipHub, {
          groupId: r.groupId,
          isLeader: r.isLeader,
          leaderNode: r.leaderNode(),
          term: r.raw.term,
        }),
        r.isLeader && engine.replicas.get(r.groupId) === r
          ? FiberMap.run(subscriptions, r.groupId, serveGroup(r), { onlyIfMissing: true }).pipe(Effect.asVoid)
          : FiberMap.remove(subscriptions, r.groupId),
      )

    /** Routes one request through the group's kind; `reply` gets the answer bytes. */
    const serveRequest = (
      groupId: GroupId,
      data: Uint8Array,
      nowMs: number,
      reply: (b: Uint8Array) => void,
    ) => {
      const r = engine.replicas.get(groupId)
      const kind = r?.kind ?? kindFor(groupId)
      let routed: ReturnType<ShardKind["route"]>
      try {
        routed = kind.route(data, nowMs)
      } catch (e) {
        reply(kind.encodeError(new BadRequest({ reason: `request could not be decoded: ${String(e)}` })))
        return
      }
      if (routed._tag === "Reply") {
        reply(routed.reply)
        return
      }
      if (routed.slot !== undefined && config.ownsSlot?.(groupId, routed.slot) === false) {
        reply(kind.encodeError(new WrongShard({ groupId, slot: routed.slot })))
        return
      }
      const waiter: Waiter = { succeed: reply, fail: (err) => reply(kind.encodeError(err)) }
      const item: MailboxItem =
        routed._tag === "Command"
          ? { _tag: "Command", command: routed.command, waiter }
          : { _tag: "Query", query: routed.query, stale: routed.stale, waiter }
      engine.submit(groupId, item)
    }

    // ----- liveness and inbound
    yield* Effect.forkScoped(
      Effect.scoped(
        Effect.gen(function* () {
          const sub = yield* bus.subscribe(`${subjects.root}.live.*`)
          yield* Stream.runForEach(sub.messages, (msg) =>
            Effect.sync(() => {
              const node = Number(msg.subject.slice(msg.subject.lastIndexOf(".") + 1))
              if (isNodeId(node)) heard(node, nowMs())
            }),
          )
        }),
      ).pipe(Effect.catchAll((e) => Effect.logError(`liveness subscription failed: ${e.message}`))),
    )
    // The beat: wakes the loop once per tick (the loop ticks the cores when the time has come).
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.zipRight(
          Effect.sleep(settings.tickMs),
          Effect.sync(() => {
            tickDue = true
            signal()
          }),
        ),
      ),
    )
    const loopFiber = yield* Effect.forkScoped(
      loop.pipe(Effect.catchAllCause((cause) => Effect.logError("node engine loop died", cause))),
    )
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        engine.stopping = true
        signal()
        yield* loopFiberAwait(loopFiber)
        engine.failAll(new NodeStopping({ nodeId }))
        flushReplies()
      }),
    )

    // ----- the service
    const submitEffect = (groupId: GroupId, make: (w: Waiter) => MailboxItem) =>
      Effect.async<Uint8Array, RuntimeError>((resume) => {
        if (engine.stopping) {
          resume(Effect.fail(new NodeStopping({ nodeId })))
          return
        }
        engine.submit(
          groupId,
          make({ succeed: (b) => resume(Effect.succeed(b)), fail: (e) => resume(Effect.fail(e)) }),
        )
        signal()
      })

    const service: NodeService = {
      nodeId,
      createGroup: (o) =>
        Effect.suspend((): Effect.Effect<void, GroupExists | GroupStopped> => {
          const existing = engine.replicas.get(o.groupId)
          if (existing !== undefined) {
            return existing.stopped === undefined
              ? Effect.fail(new GroupExists({ groupId: o.groupId }))
              : Effect.fail(new GroupStopped({ groupId: o.groupId, reason: existing.stopped }))
          }
          return Effect.zipRight(
            recordKind(o.groupId, o.kind),
            Effect.sync(() => {
              engine.createReplica({
                groupId: o.groupId,
                replicaId: o.replicaId,
                kind: kindFor(o.groupId),
                bootstrap: o.bootstrap,
              }).campaignPending = o.campaign === true
              signal()
            }),
          )
        }),
      expectReplica: (groupId, replicaId, kind) =>
        Effect.zipRight(
          recordKind(groupId, kind),
          Effect.sync(() => engine.expect(groupId, replicaId, kindFor(groupId))),
        ),
      propose: (groupId, command) =>
        submitEffect(groupId, (waiter) => ({ _tag: "Command", command, waiter })),
      read: (groupId, query, options) =>
        submitEffect(groupId, (waiter) => ({ _tag: "Query", query, stale: options?.stale === true, waiter })),
      request: (groupId, request) =>
        Effect.async<Uint8Array>((resume) => {
          serveRequest(groupId, request, nowMs(), (b) => resume(Effect.succeed(b)))
          signal()
        }),
      proposeConfChange: (groupId, cc) =>
        Effect.async<void, RuntimeError | InvalidConfChange>((resume) => {
          const r = engine.withReplica(groupId, (rep) => ({ rep, res: rep.raw.proposeConfChange(cc) }))
          if (r === undefined) {
            resume(Effect.fail(new GroupNotFound({ groupId, nodeId })))
            return
          }
          const res = r.res
          if (res._tag === "InvalidConfChange") resume(Effect.fail(res))
          else if (res._tag === "ProposalDropped") {
            resume(Effect.fail(new ProposalFailed({ groupId, reason: res.reason })))
          } else {
            r.rep.awaitIndex(res.index, res.term, {
              succeed: () => resume(Effect.void),
              fail: (e) => resume(Effect.fail(e)),
            })
          }
          signal()
        }),
      transferLeader: (groupId, to) =>
        Effect.suspend((): Effect.Effect<void, RuntimeError> => {
          const r = engine.withReplica(groupId, (rep) => rep.raw.transferLeader(to))
          signal()
          if (r === undefined && !engine.replicas.has(groupId))
            return Effect.fail(new GroupNotFound({ groupId, nodeId }))
          return r === undefined
            ? Effect.void
            : Effect.fail(new ProposalFailed({ groupId, reason: r.reason }))
        }),
      removeReplica: (groupId) =>
        Effect.zipRight(
          Effect.sync(() => {
            engine.destroy(groupId, new GroupNotFound({ groupId, nodeId }))
            signal()
          }),
          catalog.remove(groupId).pipe(Effect.orDie),
        ),
      status: (groupId) =>
        Effect.sync(() => Option.map(Option.fromNullable(engine.replicas.get(groupId)), statusOf)),
      groups: Effect.sync(() => [...engine.replicas.values()].map(statusOf)),
      stats: Effect.sync(() => {
        let leaders = 0
        for (const r of engine.replicas.values()) if (r.isLeader) leaders++
        return {
          groups: engine.replicas.size,
          activeGroups: engine.activeCount(),
          leaders,
          rounds: engine.stats.rounds,
          messagesIn: engine.stats.messagesIn,
          messagesOut: engine.stats.messagesOut,
          quiesces: engine.stats.quiesces,
          wakes: engine.stats.wakes,
          snapshotsInstalled: engine.stats.snapshotsInstalled,
          refusedMessages: engine.stats.refusedMessages,
          droppedUnknownGroup: engine.stats.droppedUnknownGroup,
          unsentReplies,
          nodesDown: [...down],
        }
      }),
      leadership: Stream.fromPubSub(leadershipHub),
      localStateMachine: (groupId) =>
        Option.map(Option.fromNullable(engine.replicas.get(groupId)), (r) => r.sm),
    }
    return service
  })

const EMPTY = new Uint8Array(0)

/** A catalog for nodes run without one (tests): kinds are remembered for the process only. */
const memoryCatalog = () => {
  const kinds = new Map<number, string>()
  return {
    kindOf: (g: GroupId) => kinds.get(g),
    set: (g: GroupId, kind: string) => Effect.sync(() => void kinds.set(g, kind)),
    remove: (g: GroupId) => Effect.sync(() => void kinds.delete(g)),
  }
}

const loopFiberAwait = <A, E>(fiber: Fiber.RuntimeFiber<A, E>) =>
  Effect.gen(function* () {
    const exit = yield* fiber.await.pipe(Effect.timeout("10 seconds"), Effect.option)
    if (Option.isNone(exit)) yield* Effect.logWarning("node engine loop did not stop within 10 s")
    else if (Exit.isFailure(exit.value)) yield* Effect.logError("node engine loop failed", exit.value.cause)
  })
