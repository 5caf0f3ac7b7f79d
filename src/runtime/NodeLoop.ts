/**
 * The node's loop: the fiber that drives the engine's rounds (Engine.ts) over the node's
 * `LogStore`, `Transport` and `Bus`, and the beat that ticks it. Each iteration:
 *
 *   1. wait for the wake-up signal unless there is work already;
 *   2. complete the writes that finished: their Readies finish (apply, answer callers), the
 *      messages that waited for them join this round's sends;
 *   3. ingest inbound frames, tick on the beat, collect every replica's Ready and start ONE
 *      synced `LogStore.write` for all of them (a daemon fiber: the next round goes on meanwhile);
 *   4. ONE `Transport.send` per destination node, then act on what the round changed:
 *      leadership (group subscriptions), removed replicas (wipe), snapshot data to load, replies;
 *   5. liveness pings and silent nodes; expiry of cached snapshot data.
 *
 * Shutdown (the scope closing): the loop stops taking new work, waits for the writes under way
 * (the store closes after the node), every waiting caller is answered with `NodeStopping`, and
 * the group subscriptions are dropped after it.
 */
import { Clock, Effect, Exit, type Fiber, Option, type Scope } from "effect"
import type { GroupId } from "../raft/Ids.js"
import { LogLimiter } from "../transport/LogLimiter.js"
import type { Outbound } from "./Engine.js"
import type { LeaderSubscriptions } from "./LeaderSubscriptions.js"
import type { NodeContext } from "./NodeContext.js"
import { RoundWrites } from "./RoundWrites.js"
import { NodeStopping } from "./RuntimeErrors.js"
import { describeCause, loopDied, supervise } from "./Supervisor.js"

/** Every how many milliseconds cached snapshot data is checked for expiry. */
const CACHE_EXPIRY_MS = 1000

export class NodeLoop {
  /** Inbound frames wait in the transport (`takeAll`). */
  private inboundWaiting = false
  /** The beat came: the cores tick in the next round. */
  private tickDue = false
  private nextExpiry = 0
  /** Messages of the round, per destination node, until the flush. */
  private readonly outbound: Outbound = new Map()
  private readonly writes: RoundWrites
  /** Logging of refused inbound messages: a flood of them must not flood the log. */
  private readonly refusalLog = new LogLimiter("engine: refused inbound messages")

  /** Hooks the transport's arrivals to the wake-up signal at once (before anything arrives). */
  constructor(private readonly ctx: NodeContext) {
    this.writes = new RoundWrites(ctx.store, ctx.wake, ctx.engine.metrics)
    ctx.transport.unsafeOnInbound(() => {
      this.inboundWaiting = true
      ctx.wake.raise()
    })
  }

  /** Runs the beat and the loop for the scope's lifetime; closing the scope stops them in order. */
  start(subscriptions: LeaderSubscriptions): Effect.Effect<void, never, Scope.Scope> {
    return Effect.gen(this, function* () {
      const scope = yield* Effect.scope
      yield* Effect.forkScoped(supervise("engine beat", this.beat()))
      // The transport's receive path stopping for good leaves the node deaf: a dead loop.
      yield* Effect.forkScoped(
        supervise("transport receive", Effect.flatMap(this.ctx.transport.receiveFailure, Effect.fail)),
      )
      // The loop ends by returning only once the node is stopping; any other end ends the process.
      const fiber = yield* Effect.forkScoped(
        supervise(
          "engine",
          this.run(subscriptions, scope).pipe(
            Effect.tapErrorCause((cause) =>
              Effect.sync(() => {
                // /health reports it while the supervisor ends the process.
                this.ctx.engine.metrics.loopDied = describeCause(cause)
              }),
            ),
          ),
          { mayEnd: () => this.ctx.engine.stopping },
        ),
      )
      yield* Effect.addFinalizer(() => this.stop(fiber))
    })
  }

  /** The beat: wakes the loop once per tick (the loop ticks the cores when the time has come). */
  private beat(): Effect.Effect<never> {
    return Effect.forever(
      Effect.zipRight(
        Effect.sleep(this.ctx.settings.tickMs),
        Effect.sync(() => {
          this.tickDue = true
          this.ctx.wake.raise()
        }),
      ),
    )
  }

  private run(subscriptions: LeaderSubscriptions, scope: Scope.Scope): Effect.Effect<void> {
    return Effect.gen(this, function* () {
      const engine = this.ctx.engine
      while (!engine.stopping || this.writes.pending()) {
        // Stopping, only finished writes matter: new work and arrivals are no longer taken in.
        const idle = engine.stopping ? true : !engine.hasWork() && !this.inboundWaiting
        if (idle && !this.writes.hasFinished()) yield* this.ctx.wake.wait
        const now = yield* Clock.currentTimeMillis
        engine.metrics.loopAt = now
        const stall = engine.stopping ? undefined : this.ctx.liveness.stallSeen(now)
        if (stall !== undefined) yield* this.holdAfterStall(now, stall)
        // Writes that completed: their Readies finish, their waiting messages join this flush.
        const storeFailure = this.writes.completeFinished(engine, now, this.outbound)
        // The store refuses every write after a failed batch until reopened (decision 0011):
        // the process ends for its supervisor, which reopens it (decision 0071).
        if (storeFailure !== undefined && !engine.stopping) yield* loopDied("store", storeFailure)
        if (!engine.stopping) yield* this.collectRound(now)
        yield* this.flushRound(subscriptions, scope)
        yield* this.housekeeping(now)
      }
    })
  }

  /** Takes in arrivals and the beat, collects every Ready and starts the round's write. */
  private collectRound(now: number): Effect.Effect<void> {
    return Effect.gen(this, function* () {
      const { engine, liveness } = this.ctx
      if (this.inboundWaiting) {
        this.inboundWaiting = false
        for (const b of yield* this.ctx.transport.takeAll) {
          liveness.heard(b.from, now)
          engine.ingest(b)
        }
        if (engine.refusals.length > 0) yield* this.logRefusals(now)
      }
      if (this.tickDue) {
        this.tickDue = false
        if (!engine.holding(now)) engine.tick()
      }
      const round = engine.collect(this.outbound, now)
      if (round !== undefined) yield* this.writes.start(round)
    })
  }

  /** The loop stood still for `gap` ms: client work waits a moment (Engine.holdAfterStall). */
  private holdAfterStall(now: number, gap: number): Effect.Effect<void> {
    const holdMs = this.ctx.settings.stallHoldMs
    if (holdMs <= 0) return Effect.void
    this.ctx.engine.holdAfterStall(now + holdMs)
    return Effect.logWarning(
      `engine: the loop stood still for ${gap} ms (peers may be failing over its groups): client requests wait ${holdMs} ms`,
    )
  }

  private logRefusals(now: number): Effect.Effect<void> {
    const lines = this.ctx.engine.refusals.splice(0).flatMap((line) => this.refusalLog.admit(line, now))
    return Effect.forEach(lines, (line) => Effect.logWarning(line), { discard: true })
  }

  /**
   * Sends the round's messages, one send per destination node, then acts on what the round
   * changed: leadership, removed replicas, snapshot data to load; and sends the replies.
   */
  private flushRound(subscriptions: LeaderSubscriptions, scope: Scope.Scope): Effect.Effect<void> {
    return Effect.gen(this, function* () {
      const { engine, transport } = this.ctx
      for (const [to, envelopes] of this.outbound) yield* transport.send(to, envelopes)
      this.outbound.clear()
      for (const s of engine.stopped.splice(0))
        yield* Effect.logError(`group ${s.groupId} stopped: ${s.reason}`)
      for (const change of engine.takeLeadershipChanges()) yield* subscriptions.onLeadership(change)
      for (const g of engine.removals.splice(0)) yield* wipeRemoved(this.ctx, g)
      for (const g of engine.snapshotLoads) yield* Effect.forkIn(loadSnapshotData(this.ctx, g), scope)
      engine.snapshotLoads.clear()
      if (this.ctx.replies.hasPending()) this.ctx.replies.flush()
    })
  }

  /** Liveness (while not stopping) and the expiry of cached snapshot data. */
  private housekeeping(now: number): Effect.Effect<void> {
    const engine = this.ctx.engine
    const expire = Effect.sync(() => {
      if (now >= this.nextExpiry) {
        this.nextExpiry = now + CACHE_EXPIRY_MS
        engine.expireCaches(now)
      }
    })
    if (engine.stopping) return expire
    return Effect.zipRight(
      this.ctx.liveness.step(now, (node, failOver) => engine.nodeDown(node, failOver)),
      expire,
    )
  }

  /**
   * The scope is closing: the loop finishes its round and the writes under way, then every
   * waiting caller is answered with `NodeStopping`.
   */
  private stop(fiber: Fiber.RuntimeFiber<void>): Effect.Effect<void> {
    return Effect.gen(this, function* () {
      const { engine, nodeId } = this.ctx
      engine.stopping = true
      this.ctx.wake.raise()
      yield* awaitLoop(fiber)
      engine.failAll(new NodeStopping({ nodeId }))
      this.ctx.replies.flush()
    })
  }
}

/** Wipes the data of a replica removed from this node. */
const wipeRemoved = (ctx: NodeContext, groupId: GroupId): Effect.Effect<void> =>
  ctx.store
    .removeGroup(groupId)
    .pipe(
      Effect.catchAll((e) =>
        Effect.logError(`group ${groupId}: wiping removed replica failed: ${e.message}`),
      ),
    )

/** Loads the snapshot data a leader needs (to send it to a follower) into its cache. */
const loadSnapshotData = (ctx: NodeContext, groupId: GroupId): Effect.Effect<void> =>
  ctx.store.loadSnapshot(groupId).pipe(
    Effect.flatMap((snap) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const r = ctx.engine.replicas.get(groupId)
        if (Option.isSome(snap) && r !== undefined) {
          r.storage.cacheData(snap.value.metadata.index, snap.value.data, now + ctx.settings.snapshotCacheMs)
        }
      }),
    ),
    Effect.catchAll((e) => Effect.logError(`group ${groupId}: loading snapshot failed: ${e.message}`)),
  )

const awaitLoop = <A, E>(fiber: Fiber.RuntimeFiber<A, E>) =>
  Effect.gen(function* () {
    const exit = yield* fiber.await.pipe(Effect.timeout("10 seconds"), Effect.option)
    if (Option.isNone(exit)) yield* Effect.logWarning("node engine loop did not stop within 10 s")
    else if (Exit.isFailure(exit.value)) yield* Effect.logError("node engine loop failed", exit.value.cause)
  })
