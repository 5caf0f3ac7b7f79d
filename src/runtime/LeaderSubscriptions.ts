/**
 * Leader-only group subscriptions: a replica that becomes leader subscribes to its group
 * subject `flotilla.<c>.group.<gid>` (and `.batch`) and serves requests through its
 * `ShardKind`; it unsubscribes when it loses leadership, so NATS itself routes requests to the
 * leader and "no responders" means "no leader now". Every change of leadership is also
 * published to the node's `leadership` stream.
 */
import { Effect, FiberMap, PubSub, type Scope, Stream } from "effect"
import type { GroupId, NodeId } from "../raft/Ids.js"
import { serveBatchMessage, serveMessage } from "./GroupRequests.js"
import type { NodeContext } from "./NodeContext.js"
import type { Replica } from "./Replica.js"

/** A change of a group's leadership as seen by this node. */
export interface LeadershipChange {
  readonly groupId: GroupId
  readonly isLeader: boolean
  readonly leaderNode: NodeId | undefined
  readonly term: number
}

export interface LeaderSubscriptions {
  /** Leadership changes of hosted groups, as they happen. */
  readonly changes: Stream.Stream<LeadershipChange>
  /** `r`'s leadership changed: publish it, and subscribe or unsubscribe its group subject. */
  readonly onLeadership: (r: Replica) => Effect.Effect<void>
}

/** The subscriptions of a node, all dropped when the scope closes. */
export const makeLeaderSubscriptions = (
  ctx: NodeContext,
): Effect.Effect<LeaderSubscriptions, never, Scope.Scope> =>
  Effect.gen(function* () {
    const hub = yield* PubSub.unbounded<LeadershipChange>()
    const subscriptions = yield* FiberMap.make<GroupId>()
    const onLeadership = (r: Replica) =>
      Effect.zipRight(
        PubSub.publish(hub, {
          groupId: r.groupId,
          isLeader: r.isLeader,
          leaderNode: r.leaderNode(),
          term: r.raw.term,
        }),
        r.isLeader && ctx.engine.replicas.get(r.groupId) === r
          ? FiberMap.run(subscriptions, r.groupId, serveGroup(ctx, r), { onlyIfMissing: true }).pipe(
              Effect.asVoid,
            )
          : FiberMap.remove(subscriptions, r.groupId),
      )
    return { changes: Stream.fromPubSub(hub), onLeadership }
  })

/** Serves `r`'s group subjects until interrupted (leadership lost, replica gone, node closed). */
const serveGroup = (ctx: NodeContext, r: Replica): Effect.Effect<void> =>
  Effect.scoped(
    Effect.gen(function* () {
      const subject = ctx.subjects.group(r.groupId)
      yield* ctx.bus.subscribe(subject, { handler: (msg) => serveMessage(ctx, r.groupId, msg) })
      // Batches: many requests in one message, answered in one message (RequestBatch.ts).
      yield* ctx.bus.subscribe(`${subject}.batch`, {
        handler: (msg) => serveBatchMessage(ctx, r.groupId, msg),
      })
      return yield* Effect.never
    }),
  ).pipe(Effect.catchAll((e) => Effect.logError(`group ${r.groupId}: subscription failed: ${e.message}`)))
