/**
 * Runs each shard kind's `whileLeader` task (`ShardKind.whileLeader`) for every group this node
 * leads: started when the replica becomes leader, interrupted when it stops leading or the
 * node stops. Leadership is checked on every leadership change and every `checkEveryMs` as a
 * safety net. Kinds use it for work only a leader does: the KV store's lease expiry.
 */
import { Duration, Effect, Fiber, type Option, Stream } from "effect"
import type { GroupId } from "../raft/Ids.js"
import type { LeadershipChange } from "./LeaderSubscriptions.js"
import type { GroupStatus } from "./NodeStatus.js"
import type { ShardKind } from "./ShardKind.js"
import type { StateMachine } from "./StateMachine.js"

/** What the tasks need of the node (a part of `NodeService`). */
export interface LeaderTaskHost {
  readonly groups: Effect.Effect<ReadonlyArray<GroupStatus>>
  readonly leadership: Stream.Stream<LeadershipChange>
  readonly localStateMachine: (groupId: GroupId) => Option.Option<StateMachine>
  readonly request: (groupId: GroupId, request: Uint8Array) => Effect.Effect<Uint8Array>
}

/** Runs the tasks until interrupted; fork it in the node's scope. */
export const run = (
  node: LeaderTaskHost,
  kinds: ReadonlyArray<ShardKind>,
  nowMs: () => number,
  checkEveryMs = 100,
): Effect.Effect<void> =>
  Effect.gen(function* () {
    const withTask = new Map(
      kinds.flatMap((k) => (k.whileLeader === undefined ? [] : [[k.name, k] as const])),
    )
    if (withTask.size === 0) return
    const running = new Map<GroupId, Fiber.RuntimeFiber<void>>()
    const check = Effect.gen(function* () {
      const groups = yield* node.groups
      const leading = new Map<GroupId, ShardKind>()
      for (const g of groups) {
        const kind = withTask.get(g.kind)
        if (kind !== undefined && g.isLeader && g.stopped === undefined) leading.set(g.groupId, kind)
      }
      for (const [groupId, fiber] of running)
        if (!leading.has(groupId) || fiber.unsafePoll() !== null) {
          running.delete(groupId)
          yield* Fiber.interrupt(fiber)
        }
      for (const [groupId, kind] of leading) {
        if (running.has(groupId)) continue
        const task = kind.whileLeader!({
          groupId,
          nowMs,
          stateMachine: () => node.localStateMachine(groupId),
          request: (bytes) => node.request(groupId, bytes),
        })
        running.set(groupId, yield* Effect.forkDaemon(Effect.scoped(task)))
      }
    })
    const events = Stream.merge(
      Stream.map(node.leadership, () => undefined),
      Stream.tick(Duration.millis(checkEveryMs)),
    )
    yield* Stream.runForEach(events, () => check).pipe(
      Effect.ensuring(Effect.suspend(() => Fiber.interruptAll(running.values()))),
    )
  })
