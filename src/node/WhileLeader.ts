/**
 * Runs an effect on this node exactly while its replica of a group leads: started when the
 * replica becomes leader, interrupted AT ONCE when it stops leading (the leadership stream),
 * with a periodic check as a safety net for a change published before we listened. The
 * metadata endpoint and the placement driver run this way on group 0.
 */
import { Duration, Effect, Fiber, Option, type Scope, Stream } from "effect"
import type { GroupId } from "../raft/Ids.js"
import { Node } from "../runtime/Node.js"

/** Options of `whileLeader`. */
export interface WhileLeaderOptions {
  /** How often leadership is checked besides the leadership stream (default 250 ms). */
  readonly checkEvery?: Duration.DurationInput
}

/**
 * Runs `effect` (in a scope of its own) whenever this node's replica of `groupId` leads,
 * interrupting it when leadership is lost; an effect that ends is started again at the next
 * check while leadership lasts. Never returns; run it forked in the layer's scope.
 */
export const whileLeader = <E, R>(
  groupId: GroupId,
  effect: Effect.Effect<void, E, R | Scope.Scope>,
  options: WhileLeaderOptions = {},
): Effect.Effect<never, never, Node | Scope.Scope | Exclude<R, Scope.Scope>> =>
  Effect.gen(function* () {
    const node = yield* Node
    const scope = yield* Effect.scope
    let running: Fiber.RuntimeFiber<void, E> | undefined
    const check = Effect.gen(function* () {
      const st = yield* node.status(groupId)
      const leads = Option.isSome(st) && st.value.isLeader && st.value.stopped === undefined
      if (running !== undefined && running.unsafePoll() !== null) running = undefined
      if (leads && running === undefined) {
        running = yield* Effect.forkIn(Effect.scoped(effect), scope)
      } else if (!leads && running !== undefined) {
        const f = running
        running = undefined
        yield* Fiber.interrupt(f)
      }
    })
    const every = Duration.decode(options.checkEvery ?? "250 millis")
    const events = Stream.merge(
      Stream.filter(node.leadership, (c) => c.groupId === groupId),
      Stream.tick(every),
    )
    return yield* Stream.runForEach(events, () => check).pipe(Effect.zipRight(Effect.never))
  })
