/**
 * The KV shard leader's lease timer (its `ShardKind.whileLeader` task): every `tickMs` it looks
 * at the lease deadlines of its replica and proposes `LeaseExpire` for the leases that are due.
 *
 * A lease is due when its deadline (on the shard clock) has passed AND it has lived a whole TTL
 * under this leader: after a leader change every lease's remaining time restarts from the
 * moment the new leader took over (etcd's conservative rule), so a lease is never cut short by
 * a change of leader or a clock difference between nodes. The state machine checks the
 * deadline again against the command's stamp; this task only decides WHEN to ask.
 *
 * Elapsed time is measured on the node's MONOTONIC clock (Effect's `currentTimeNanos`:
 * `process.hrtime` in production), not only on the wall clock that stamps commands: a wall
 * clock stepped forward (an NTP step, a resumed VM) would otherwise pass every deadline and the
 * takeover wait at once and end leases early (decision 0126). A deadline is a wall-clock stamp
 * plus the TTL; the task turns it into a monotonic instant with the wall clock's lead over the
 * monotonic one (`ClockLead`) at the time of the stamp. That time is unknown but within the
 * last TTL (a keep-alive older than its TTL is due anyway), so the task takes the least lead
 * sampled over that window: a step moves no lease earlier, and one stepped forward makes
 * leases renewed just before it live longer by the step, for one TTL at most.
 */
import { Clock, Duration, Effect, Either, Option } from "effect"
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

/** A leader's two readings (ms): the wall clock that stamps commands, the monotonic one that times. */
export interface LeaderNow {
  readonly wall: number
  readonly mono: number
}

/**
 * The wall clock's lead over the monotonic clock (`wall - mono`), sampled once per tick: the
 * least lead of a recent window, in O(1) amortised (a deque of increasing leads).
 */
export class ClockLead {
  private readonly samples: Array<{ readonly mono: number; readonly lead: number }> = []

  /** Takes the lead at `now`; forgets the samples no window of `keepMs` before `now` needs. */
  sample(now: LeaderNow, keepMs: number): void {
    const lead = now.wall - now.mono
    const s = this.samples
    while (s.length > 0 && s[s.length - 1]!.lead > lead) s.pop()
    // An unchanged lead keeps its first sample: the front ages out once no window needs it.
    if (s.length === 0 || s[s.length - 1]!.lead < lead) s.push({ mono: now.mono, lead })
    while (s.length > 1 && s[1]!.mono <= now.mono - keepMs) s.shift()
  }

  /**
   * At most the least lead in effect from monotonic instant `from` until now: the lead of the
   * last sample kept at or before `from` (the front one when none is).
   */
  leastSince(from: number): number {
    const s = this.samples
    let i = 0
    while (i + 1 < s.length && s[i + 1]!.mono <= from) i++
    return s[i]?.lead ?? 0
  }
}

/**
 * The leases due at `now` for a leader that took over at monotonic instant `since`, grouped by
 * route key: the deadline has passed on the wall clock, the takeover wait on the monotonic one,
 * and so has the deadline turned monotonic with the least lead of the last TTL (and `slackMs`:
 * a tick, between two samples). Without `lead`: the lead now (wall and monotonic agree).
 */
export const dueLeases = (
  deadlines: ReadonlyArray<LeaseDeadline>,
  now: LeaderNow,
  since: number,
  lead?: ClockLead,
  slackMs = 0,
): Array<{ readonly routeKey: Uint8Array; readonly ids: number[] }> => {
  const bySlot = new Map<number, { routeKey: Uint8Array; ids: number[] }>()
  for (const l of deadlines) {
    if (l.deadline > now.wall || now.mono < since + l.ttlMs) continue
    const least = lead?.leastSince(now.mono - l.ttlMs - slackMs) ?? now.wall - now.mono
    if (now.mono < l.deadline - least) continue
    const slot = slotOf(l.routeKey)
    const batch = bySlot.get(slot)
    if (batch === undefined) bySlot.set(slot, { routeKey: l.routeKey, ids: [l.id] })
    else if (batch.ids.length < BATCH) batch.ids.push(l.id)
  }
  return [...bySlot.values()]
}

/** The node's monotonic clock in ms (a wall-clock step does not move it). */
const monotonicMs = Effect.map(Clock.currentTimeNanos, (n) => Number(n / 1_000_000n))

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
      const since = yield* monotonicMs
      const lead = new ClockLead()
      lead.sample({ wall: ctx.nowMs(), mono: since }, tickMs)
      while (true) {
        yield* Effect.sleep(Duration.millis(tickMs))
        const sm = ctx.stateMachine()
        if (Option.isNone(sm) || !(sm.value instanceof KvStateMachine)) continue
        // An answer that is an error (not leader any more, overloaded) is retried next tick.
        const now = { wall: ctx.nowMs(), mono: yield* monotonicMs }
        const deadlines = sm.value.leaseDeadlines()
        lead.sample(now, deadlines.reduce((m, l) => Math.max(m, l.ttlMs), 0) + 2 * tickMs)
        for (const batch of dueLeases(deadlines, now, since, lead, tickMs))
          yield* ctx.request(expireRequest(batch.routeKey, batch.ids))
      }
    })
