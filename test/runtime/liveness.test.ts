/**
 * Liveness's judgement of silence (docs/decisions/0079): a silent node is handed to `onDown`
 * with `failOver` only while this node hears its own pings (the bus reaches it), and a node
 * whose own loop stood still judges nobody on waking: every silence starts afresh.
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { NodeId } from "../../src/raft/Ids.js"
import { Liveness } from "../../src/runtime/Liveness.js"
import type { BusService } from "../../src/transport/Bus.js"
import { clusterSubjects } from "../../src/transport/Subjects.js"

const published: string[] = []
const bus = {
  publish: (subject: string) => Effect.sync(() => void published.push(subject)),
} as unknown as BusService

const make = () => new Liveness(bus, clusterSubjects("t"), NodeId(1), 500, 2000)
const step = (l: Liveness, now: number) => {
  const downs: Array<[number, boolean]> = []
  Effect.runSync(l.step(now, (node, failOver) => downs.push([node, failOver])))
  return downs
}
/** Steps every 100 ms from `from` to `to` (a running loop), collecting what went down. */
const run = (l: Liveness, from: number, to: number, selfEcho: boolean) => {
  const downs: Array<[number, boolean]> = []
  for (let t = from; t <= to; t += 100) {
    if (selfEcho) l.heard(NodeId(1), t)
    downs.push(...step(l, t))
  }
  return downs
}

describe("Liveness", () => {
  it("pings once per interval", () => {
    published.length = 0
    const l = make()
    run(l, 0, 1000, true)
    expect(published).toEqual(["flotilla.t.int.live.1", "flotilla.t.int.live.1", "flotilla.t.int.live.1"])
  })

  it("a silent node fails over while this node hears its own pings", () => {
    const l = make()
    l.heard(NodeId(2), 0)
    l.heard(NodeId(3), 0)
    const downs = run(l, 0, 3000, true).filter(([n]) => n === 2)
    expect(downs).toEqual([[2, true]])
    expect(l.down.has(NodeId(2))).toBe(true)
    l.heard(NodeId(2), 3100)
    expect(l.down.has(NodeId(2))).toBe(false)
  })

  it("judges silence on every step, not only when it pings: within a step of the timeout", () => {
    const l = make()
    l.heard(NodeId(2), 0)
    expect(run(l, 0, 2000, true)).toEqual([]) // 2,000 ms is not past the timeout
    // 2,100: a step between pings (they go at 0, 500, ..., 2,500) finds node 2 silent.
    expect(run(l, 2100, 2100, true)).toEqual([[2, true]])
  })

  it("after its own bus outage, judges the others from its own reconnection, not from before it", () => {
    const l = make()
    l.heard(NodeId(2), 0)
    l.heard(NodeId(3), 0)
    run(l, 0, 400, true)
    // The bus goes down at 500 for 1.2 s: no pings, ours included (no failover without them).
    run(l, 500, 1600, false)
    // We are back at 1,700; node 3 at 1,800 and node 2 not until 2,400: from our last ping
    // heard (400) they were silent for over 2 s, but the silence overlapping our own counts not.
    const downs: Array<[number, boolean]> = []
    for (let t = 1700; t <= 3600; t += 100) {
      l.heard(NodeId(1), t)
      if (t >= 1800) l.heard(NodeId(3), t)
      if (t >= 2400) l.heard(NodeId(2), t)
      downs.push(...step(l, t))
    }
    expect(downs).toEqual([])
    // A node that never comes back is found silent a timeout after our reconnection.
    expect(run(l, 3700, 4000, true).filter(([n]) => n === 3)).toEqual([])
    const l2 = make()
    l2.heard(NodeId(2), 0)
    run(l2, 0, 400, true)
    run(l2, 500, 1600, false)
    expect(run(l2, 1700, 3800, true)).toEqual([[2, true]])
  })

  it("without its own pings (its bus link is down) a node still wakes the groups, without failover", () => {
    const l = make()
    l.heard(NodeId(2), 0)
    expect(run(l, 0, 3000, false)).toEqual([[2, false]])
  })

  it("a node whose loop stood still judges nobody on waking, then judges again", () => {
    const l = make()
    l.heard(NodeId(2), 0)
    run(l, 0, 1000, true)
    // Stopped from 1000 to 4000 (SIGSTOP): node 2 looks silent for 4 s, but we heard nothing either.
    expect(step(l, 4000)).toEqual([])
    // Node 2 really is gone: down once it has been silent a full timeout from the wake-up.
    const downs = run(l, 4100, 6600, true)
    expect(downs).toEqual([[2, true]])
  })

  it("names a gap between turns long enough for the peers to find this node silent, and only such a gap", () => {
    const l = make() // interval 500, timeout 2000, stall threshold 1000
    expect(l.stallSeen(0)).toBeUndefined() // the first turn
    expect(l.stallSeen(100)).toBeUndefined() // a normal turn of the loop
    expect(l.stallSeen(1_500)).toBeUndefined() // 1.4 s: at most 1.9 s since our last ping
    expect(l.stallSeen(3_000)).toBe(1500) // 1.5 s plus an interval reaches the timeout
    expect(l.stallSeen(6_000)).toBe(3000)
    expect(l.stallSeen(6_100)).toBeUndefined() // each gap from the turn before
  })
})
