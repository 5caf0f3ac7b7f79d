/**
 * The KV shard leader's lease timer (its `ShardKind.whileLeader` task): every `tickMs` it looks
 * at the lease deadlines of its replica and proposes `LeaseExpire` for the leases that are due.
 *
 * A lease is due when its deadline (on the shard clock) has passed AND it has lived a whole TTL
 * under this leader: after a leader change every lease's remaining time restarts from the
 * moment the new leader took over (etcd's conservative rule), so a lease is never cut short by
 * a change of leader or a clock difference between nodes. The state machine checks the
 * deadline again against the command's stamp; this task only decides WHEN to ask.
 */
import { Duration, Effect, Either, Option } from "effect"
import * as EntityClient from "../../src/runtime/entity/EntityClient.js"
import { slotOf } from "../../src/runtime/entity/EntityId.js"
import * as Wire from "../../src/runtime/entity/Wire.js"
import type { LeaderContext } from "../../src/runtime/ShardKind.js"
import { KIND } from "./Kv.js"
import { KvRevProtocol } from "./KvRev.js"
import { KvStateMachine } from "./KvStateMachine.js"
import type { LeaseDeadline } from "./Leases.js"

/** Most leases named in one `LeaseExpire`. */
const BATCH = 256

/** The leases due at `now` for a leader that took over at `since`, grouped by route key. */
export const dueLeases = (
  deadlines: ReadonlyArray<LeaseDeadline>,
  now: number,
  since: number,
): Array<{ readonly routeKey: Uint8Array; readonly ids: number[] }> => {
  const bySlot = new Map<number, { routeKey: Uint8Array; ids: number[] }>()
  for (const l of deadlines) {
    if (l.deadline > now || now < since + l.ttlMs) continue
    const slot = slotOf(l.routeKey)
    const batch = bySlot.get(slot)
    if (batch === undefined) bySlot.set(slot, { routeKey: l.routeKey, ids: [l.id] })
    else if (batch.ids.length < BATCH) batch.ids.push(l.id)
  }
  return [...bySlot.values()]
}

/** The request bytes of `LeaseExpire` (the node stamps its time when it proposes it). */
export const expireRequest = (routeKey: Uint8Array, ids: ReadonlyArray<number>): Uint8Array => {
  const payload = EntityClient.encodePayload(KvRevProtocol, "LeaseExpire", { leases: ids })
  if (Either.isLeft(payload)) throw new Error(`LeaseExpire does not encode: ${payload.left.message}`)
  return Wire.encodeRequest({
    type: "command",
    kind: KIND,
    operation: "LeaseExpire",
    entityId: routeKey,
    payload: payload.right,
    session: 0,
    seq: 0,
    ackedBelow: 0,
  })
}

/** The task: runs while this node's replica leads. */
export const leaseExpiry =
  (tickMs: number) =>
  (ctx: LeaderContext): Effect.Effect<void> =>
    Effect.gen(function* () {
      const since = ctx.nowMs()
      while (true) {
        yield* Effect.sleep(Duration.millis(tickMs))
        const sm = ctx.stateMachine()
        if (Option.isNone(sm) || !(sm.value instanceof KvStateMachine)) continue
        // An answer that is an error (not leader any more, overloaded) is retried next tick.
        for (const batch of dueLeases(sm.value.leaseDeadlines(), ctx.nowMs(), since))
          yield* ctx.request(expireRequest(batch.routeKey, batch.ids))
      }
    })
