/**
 * Runs each shard kind's `whileLeader` task (`ShardKind.whileLeader`) for every group this node
 * leads: started when the replica becomes leader, interrupted when it stops leading or the
 * node stops. Each leadership change starts or stops its group's task; every `checkEveryMs`
 * every group led here is checked against the tasks running, as a safety net. Kinds use it for work only a leader does: the KV store's lease expiry.
 */
import { Duration, Effect, Fiber, type Option, Stream } from "effect"
import type { GroupId } from "../raft/Ids.js"
import type { LeadershipChange } from "./LeaderSubscriptions.js"
import type { ShardKind } from "./ShardKind.js"
import type { StateMachine } from "./StateMachine.js"

/** What the tasks need of the node. */
export interface LeaderTaskHost {
  /**
   * The groups whose replica here leads and runs. Read on every leadership change and every
   * check: it must be cheap (not `NodeService.groups`, which builds every group's status: with
   * a thousand groups failing over, that made failover quadratic).
   */
  readonly led: Effect.Effect<ReadonlyArray<GroupId>>
  readonly leadership: Stream.Stream<LeadershipChange>
  readonly localStateMachine: (groupId: GroupId) => Option.Option<StateMachine>
  readonly request: (groupId: GroupId, request: Uint8Array) => Effect.Effect<Uint8Array>
}

/** How the tasks find a group's kind: the node's own resolution (GroupKinds.ts). */
export interface KindResolver {
  /** The kind of a hosted group (undefined when it cannot be told). */
  readonly kindOf: (groupId: GroupId) => ShardKind | undefined
  /** Whether any kind the node may host has a task (none: nothing runs, nothing is polled). */
  readonly anyTask: boolean
}

/** The resolver of a node configured with `kinds` and/or `kindOf` (NodeConfig.ts). */
export const resolver = (
  kinds: ReadonlyArray<ShardKind> | undefined,
  kindFor: (groupId: GroupId) => ShardKind,
  kindOfConfigured: boolean,
): KindResolver => ({
  kindOf: (groupId) => {
    try {
      return kindFor(groupId)
    } catch {
      return undefined
    }
  },
  // A `kindOf` may answer kinds not listed in `kinds`: their tasks must run too.
  anyTask: kindOfConfigured || (kinds ?? []).some((k) => k.whileLeader !== undefined),
})

/** Runs the tasks until interrupted; fork it in the node's scope. */
export const run = (
  node: LeaderTaskHost,
  kinds: KindResolver,
  nowMs: () => number,
  checkEveryMs = 1000,
): Effect.Effect<void> =>
  Effect.gen(function* () {
    if (!kinds.anyTask) return
    const running = new Map<GroupId, Fiber.RuntimeFiber<void>>()
    const start = (groupId: GroupId, kind: ShardKind) =>
      Effect.gen(function* () {
        const task = kind.whileLeader!({
          groupId,
          nowMs,
          stateMachine: () => node.localStateMachine(groupId),
          request: (bytes) => node.request(groupId, bytes),
        })
        running.set(groupId, yield* Effect.forkDaemon(Effect.scoped(task)))
      })
    const stop = (groupId: GroupId) =>
      Effect.suspend(() => {
        const fiber = running.get(groupId)
        if (fiber === undefined) return Effect.void
        running.delete(groupId)
        return Fiber.interrupt(fiber)
      })
    // One group's change: O(1), so a node taking thousands of leaderships at once (creating a
    // keyspace, a failover) does not rescan every group it leads per change.
    const onChange = (change: LeadershipChange) =>
      Effect.gen(function* () {
        const fiber = running.get(change.groupId)
        if (!change.isLeader) return yield* stop(change.groupId)
        if (fiber !== undefined && fiber.unsafePoll() === null) return
        if (fiber !== undefined) yield* stop(change.groupId)
        const kind = kinds.kindOf(change.groupId)
        if (kind?.whileLeader !== undefined) yield* start(change.groupId, kind)
      })
    // The safety net: every group led here, against the tasks running.
    const check = Effect.gen(function* () {
      const leading = new Map<GroupId, ShardKind>()
      for (const groupId of yield* node.led) {
        const kind = kinds.kindOf(groupId)
        if (kind?.whileLeader !== undefined) leading.set(groupId, kind)
      }
      for (const [groupId, fiber] of running)
        if (!leading.has(groupId) || fiber.unsafePoll() !== null) yield* stop(groupId)
      for (const [groupId, kind] of leading) if (!running.has(groupId)) yield* start(groupId, kind)
    })
    const events = Stream.merge(
      node.leadership,
      Stream.map(Stream.tick(Duration.millis(checkEveryMs)), () => undefined),
    )
    yield* Stream.runForEach(events, (change) => (change === undefined ? check : onChange(change))).pipe(
      Effect.ensuring(Effect.suspend(() => Fiber.interruptAll(running.values()))),
    )
  })
