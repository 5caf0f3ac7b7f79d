/**
 * The leader's choice of leases to expire: deadline passed AND a whole TTL under this leader,
 * both timed on the monotonic clock, so that a step of the wall clock hastens nothing.
 */
import { describe, expect, it } from "vitest"
import { ClockLead, dueLeases } from "../../shards/kv/LeaseExpiry.js"

const utf8 = (s: string) => new TextEncoder().encode(s)

/** A leader whose wall and monotonic clocks agree. */
const at = (ms: number) => ({ wall: ms, mono: ms })

describe("dueLeases", () => {
  const lease = (id: number, deadline: number, ttlMs: number, route = "{a}") => ({
    id,
    deadline,
    ttlMs,
    routeKey: utf8(route),
  })

  it("waits for the deadline, and after a leader change for a whole TTL from the takeover", () => {
    const leases = [lease(1, 1_000, 500), lease(2, 2_000, 500)]
    // A leader in place since long ago: only the lease past its deadline.
    expect(dueLeases(leases, at(1_500), 0)).toEqual([{ routeKey: utf8("{a}"), ids: [1] }])
    // A leader that took over at 1_200: lease 1's deadline has passed, but it gets 500 ms more.
    expect(dueLeases(leases, at(1_500), 1_200)).toEqual([])
    expect(dueLeases(leases, at(1_700), 1_200)).toEqual([{ routeKey: utf8("{a}"), ids: [1] }])
    expect(dueLeases(leases, at(2_000), 1_200)).toEqual([{ routeKey: utf8("{a}"), ids: [1, 2] }])
  })

  it("batches by slot of the route key", () => {
    const batches = dueLeases(
      [lease(1, 0, 1, "{a}"), lease(2, 0, 1, "x{a}y"), lease(3, 0, 1, "{b}")],
      at(10),
      0,
    )
    expect(batches.map((b) => b.ids)).toEqual([[1, 2], [3]])
  })

  it("times deadlines monotonically: a wall clock stepped forward ends nothing early", () => {
    const lead = new ClockLead()
    const tick = (wall: number, mono: number, deadline: number) => {
      lead.sample({ wall, mono }, 1_000 + 200)
      return dueLeases([lease(1, deadline, 1_000)], { wall, mono }, 0, lead, 100)
    }
    for (let t = 0; t <= 1_000; t += 100) expect(tick(t, t, 2_000)).toEqual([])
    // A keep-alive stamped at wall 1_050 (deadline 2_050); the wall clock then jumps 10 minutes ahead.
    expect(tick(601_100, 1_100, 2_050)).toEqual([])
    expect(tick(601_200, 1_200, 2_050)).toEqual([])
    // Due 1_000 ms after its stamp, on the monotonic clock.
    expect(tick(602_000, 2_000, 2_050)).toEqual([])
    expect(tick(602_100, 2_100, 2_050)).toEqual([{ routeKey: utf8("{a}"), ids: [1] }])
    // A keep-alive stamped just after the step: it may live a little longer (the window still
    // holds the lead before the step), never shorter.
    expect(tick(602_150, 2_150, 602_150)).toEqual([])
    expect(tick(602_300, 2_300, 602_150)).toEqual([{ routeKey: utf8("{a}"), ids: [1] }])
    // Once the step is older than a TTL (and a tick), deadlines are timed exactly again.
    for (let t = 2_400; t < 4_500; t += 100) tick(600_000 + t, t, 604_600)
    expect(tick(604_500, 4_500, 604_600)).toEqual([])
    expect(tick(604_600, 4_600, 604_600)).toEqual([{ routeKey: utf8("{a}"), ids: [1] }])
  })

  it("a wall clock stepped back ends nothing early either", () => {
    const lead = new ClockLead()
    lead.sample({ wall: 500_000, mono: 0 }, 1_200)
    lead.sample({ wall: 500_100, mono: 100 }, 1_200)
    // Stepped back 8 minutes: a deadline stamped before it waits for the wall clock (apply's check).
    lead.sample({ wall: 20_200, mono: 200 }, 1_200)
    expect(dueLeases([lease(1, 501_050, 1_000)], { wall: 20_200, mono: 200 }, 0, lead, 100)).toEqual([])
    expect(dueLeases([lease(1, 501_050, 1_000)], { wall: 21_100, mono: 1_100 }, 0, lead, 100)).toEqual([])
  })

  it("takes the takeover wait monotonically too", () => {
    // Took over at monotonic 5_000; the wall clock then stepped far ahead.
    expect(dueLeases([lease(1, 0, 1_000)], { wall: 900_000, mono: 5_500 }, 5_000)).toEqual([])
    expect(dueLeases([lease(1, 0, 1_000)], { wall: 900_500, mono: 6_000 }, 5_000)).toHaveLength(1)
  })
})
