/**
 * Per-node clocks of a simulation of real nodes (`RuntimeSim`, `PlacementSim`): each node reads
 * its own view of the one virtual time base (`VirtualClock`, RuntimeSimTime.ts), with an offset
 * and a drift that the test sets and changes while the run goes on (`sim.skewClock`).
 *
 * - `drift` is the rate error: +0.05 runs 5% fast, -0.2 runs 20% slow (it must stay above -1).
 *   The node's reading advances by `(1 + drift)` ms per base ms, and a node's `sleep(d)` wakes
 *   after `ceil(d / (1 + drift))` base ms (whole base milliseconds, so base time stays whole).
 *   A change of drift keeps the reading continuous; sleeps begun before it keep their instant.
 * - `offsetMs` is added to the reading (negative: behind). Changing it makes the reading jump,
 *   as a stepped wall clock does; sleeps are durations, so they never move (and never fire
 *   before their base instant).
 *
 * Two readings, as Effect's own clock has: `currentTimeMillis` is the WALL clock (`Date.now()`
 * in production: offset and drift), `currentTimeNanos` the MONOTONIC one (`process.hrtime`:
 * drift only, no offset, so no step ever moves it). Code that times intervals should use the
 * second (the KV lease timer does: LeaseExpiry.ts).
 *
 * A node without skew reads exactly the base clock and sleeps exactly as it does, so a run
 * without skew is the same run as before this module. Readings are whole milliseconds once a
 * drift was set (floored), and never negative: a skew that would put the reading below zero
 * now is refused.
 *
 * The clock belongs to the node's slot, not to one incarnation: a node restarted after a
 * crash keeps its skew, as a machine keeps its clock across a process restart. Only the node's
 * own fibers run on it (its incarnation is built with `Effect.withClock`); clients, the test
 * driver, the network and the bus stay on base time.
 */
import { Clock, Duration, Effect } from "effect"
import type { VirtualClock } from "./RuntimeSimTime.js"

/** A node's clock error; an absent field keeps its current value. */
export interface ClockSkew {
  /** Milliseconds added to the node's reading (negative: behind); default 0. */
  readonly offsetMs?: number
  /** Rate error, e.g. 0.3 = 30% fast, -0.2 = 20% slow; above -1; default 0. */
  readonly drift?: number
}

/** One node's view of the base clock (see the module comment). */
export class SkewedClock implements Clock.Clock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId
  private offsetMs = 0
  private drift = 0
  /** Base instant of the last drift change, and the drifted reading (offset aside) then. */
  private anchorBase = 0
  private anchorLocal = 0

  constructor(private readonly base: VirtualClock) {}

  /** The current offset and drift. */
  get skew(): { readonly offsetMs: number; readonly drift: number } {
    return { offsetMs: this.offsetMs, drift: this.drift }
  }

  /** The drifted reading at base instant `t`, offset aside (fractional). */
  private local(t: number): number {
    return this.anchorLocal + (t - this.anchorBase) * (1 + this.drift)
  }

  /** The node's reading at base instant `t`. */
  readingAt(t: number): number {
    // Never drifted: exactly the base clock (plus the offset), fractions included.
    if (this.anchorBase === this.anchorLocal && this.drift === 0) return t + this.offsetMs
    return Math.floor(this.local(t)) + this.offsetMs
  }

  /** Sets the offset and/or the drift from the current base instant on. */
  set(skew: ClockSkew): void {
    const offsetMs = skew.offsetMs ?? this.offsetMs
    const drift = skew.drift ?? this.drift
    if (!Number.isFinite(offsetMs)) throw new RangeError(`clock offset must be finite, got ${offsetMs}`)
    if (!Number.isFinite(drift) || drift <= -1)
      throw new RangeError(`clock drift must be a finite rate above -1, got ${drift}`)
    const now = this.base.unsafeCurrentTimeMillis()
    const local = this.local(now)
    const reading = drift === 0 && local === now ? now + offsetMs : Math.floor(local) + offsetMs
    if (reading < 0)
      throw new RangeError(
        `clock offset ${offsetMs} ms would put the node's clock at ${reading} ms (before 0) at base time ${now} ms`,
      )
    this.anchorLocal = local
    this.anchorBase = now
    this.offsetMs = offsetMs
    this.drift = drift
  }

  unsafeCurrentTimeMillis(): number {
    return this.readingAt(this.base.unsafeCurrentTimeMillis())
  }

  /** The monotonic reading: drift, no offset (see the module comment). */
  unsafeCurrentTimeNanos(): bigint {
    if (this.anchorBase === this.anchorLocal && this.drift === 0) return this.base.unsafeCurrentTimeNanos()
    return BigInt(Math.floor(this.local(this.base.unsafeCurrentTimeMillis()) * 1_000_000))
  }

  readonly currentTimeMillis: Effect.Effect<number> = Effect.sync(() => this.unsafeCurrentTimeMillis())

  readonly currentTimeNanos: Effect.Effect<bigint> = Effect.sync(() => this.unsafeCurrentTimeNanos())

  /** Base milliseconds a sleep of `millis` node milliseconds lasts. */
  baseMillis(millis: number): number {
    return this.drift === 0 ? millis : Math.ceil(Math.max(0, millis) / (1 + this.drift))
  }

  sleep(duration: Duration.Duration): Effect.Effect<void> {
    return Effect.suspend(() => {
      const millis = Duration.toMillis(duration)
      if (this.drift === 0 || !Number.isFinite(millis)) return this.base.sleep(duration)
      return this.base.sleep(Duration.millis(this.baseMillis(millis)))
    })
  }
}

/** The clocks of a simulation's nodes, by node number, made on first use. */
export class SimClocks {
  private readonly clocks = new Map<number, SkewedClock>()

  constructor(private readonly base: VirtualClock) {}

  /** Node `node`'s clock (the same object for its whole life, across restarts). */
  of(node: number): SkewedClock {
    let clock = this.clocks.get(node)
    if (clock === undefined) {
      clock = new SkewedClock(this.base)
      this.clocks.set(node, clock)
    }
    return clock
  }

  /** Sets node `node`'s skew from now on (a `RangeError` for a drift at or below -1, or a negative reading). */
  skew(node: number, skew: ClockSkew): void {
    this.of(node).set(skew)
  }

  /** A log line for a skew change. */
  describe(node: number): string {
    const { offsetMs, drift } = this.of(node).skew
    return `clock of node ${node}: offset ${offsetMs} ms, drift ${drift >= 0 ? "+" : ""}${Math.round(drift * 1000) / 10}%`
  }
}
