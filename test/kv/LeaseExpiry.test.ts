/** The leader's choice of leases to expire: deadline passed AND a whole TTL under this leader. */
import { describe, expect, it } from "vitest"
import { dueLeases } from "../../shards/kv/LeaseExpiry.js"

const utf8 = (s: string) => new TextEncoder().encode(s)

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
    expect(dueLeases(leases, 1_500, 0)).toEqual([{ routeKey: utf8("{a}"), ids: [1] }])
    // A leader that took over at 1_200: lease 1's deadline has passed, but it gets 500 ms more.
    expect(dueLeases(leases, 1_500, 1_200)).toEqual([])
    expect(dueLeases(leases, 1_700, 1_200)).toEqual([{ routeKey: utf8("{a}"), ids: [1] }])
    expect(dueLeases(leases, 2_000, 1_200)).toEqual([{ routeKey: utf8("{a}"), ids: [1, 2] }])
  })

  it("batches by slot of the route key", () => {
    const batches = dueLeases([lease(1, 0, 1, "{a}"), lease(2, 0, 1, "x{a}y"), lease(3, 0, 1, "{b}")], 10, 0)
    expect(batches.map((b) => b.ids)).toEqual([[1, 2], [3]])
  })
})
