import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { balanceLeaders, findLeaderChain, type Leadership } from "../../src/meta/LeaderChains.js"
import type { NodeId } from "../../src/raft/Ids.js"
import { n } from "./Helpers.js"

/** Small instances: up to 5 nodes, each group led by one of its 1..3 candidate nodes, plus fixed load. */
const instance = fc.integer({ min: 2, max: 5 }).chain((nodes) =>
  fc.record({
    nodes: fc.constant(nodes),
    fixed: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: nodes, maxLength: nodes }),
    groups: fc.array(
      fc
        .uniqueArray(fc.integer({ min: 1, max: nodes }), { minLength: 1, maxLength: 3 })
        .chain((cands) => fc.record({ cands: fc.constant(cands), leader: fc.constantFrom(...cands) })),
      { maxLength: 7 },
    ),
  }),
)

const sumOfSquares = (counts: Iterable<number>) => [...counts].reduce((a, c) => a + c * c, 0)

/** The least sum of squared counts over every assignment, by brute force. */
const bestSumOfSquares = (nodes: number, fixed: number[], groups: Array<{ cands: number[] }>): number => {
  let best = Number.POSITIVE_INFINITY
  const counts = [...fixed]
  const go = (i: number) => {
    if (i === groups.length) {
      best = Math.min(best, sumOfSquares(counts))
      return
    }
    for (const c of groups[i]!.cands) {
      counts[c - 1]!++
      go(i + 1)
      counts[c - 1]!--
    }
  }
  go(0)
  return nodes === 0 ? 0 : best
}

describe("leader chains", () => {
  it("balance an assignment as well as any reassignment could (least sum of squares, hence least maximum)", () => {
    fc.assert(
      fc.property(instance, ({ nodes, fixed, groups }) => {
        const counts = new Map<NodeId, number>(fixed.map((f, i) => [n(i + 1), f]))
        for (const g of groups) counts.set(n(g.leader), counts.get(n(g.leader))! + 1)
        const items: Leadership<number>[] = groups.map((g, i) => ({
          group: i,
          leader: n(g.leader),
          candidates: g.cands.map(n),
        }))
        const result = balanceLeaders(items, counts)
        // Every group is led by one of its candidates, and the counts add up.
        const recount = [...fixed]
        groups.forEach((g, i) => {
          expect(g.cands).toContain(result.get(i))
          recount[result.get(i)! - 1]!++
        })
        expect([...counts.values()]).toEqual(recount)
        expect(sumOfSquares(recount)).toBe(bestSumOfSquares(nodes, fixed, groups))
      }),
      { numRuns: 300 },
    )
  })

  it("find the shortest chain through intermediate nodes", () => {
    // Node 1 leads A (voters 1, 2); node 2 leads B (voters 2, 3); node 3 leads nothing.
    const byLeader = new Map<NodeId, Leadership<string>[]>([
      [
        n(1),
        [
          { group: "A", leader: n(1), candidates: [n(1), n(2)] },
          { group: "A2", leader: n(1), candidates: [n(1)] },
        ],
      ],
      [n(2), [{ group: "B", leader: n(2), candidates: [n(2), n(3)] }]],
    ])
    const counts = new Map([
      [n(1), 2],
      [n(2), 1],
      [n(3), 0],
    ])
    const count = (x: NodeId) => counts.get(x) ?? 0
    expect(findLeaderChain(n(1), byLeader, count, () => true)).toEqual([
      { group: "A", from: 1, to: 2 },
      { group: "B", from: 2, to: 3 },
    ])
    expect(findLeaderChain(n(1), byLeader, count, (x) => x !== 3)).toBeUndefined()
    expect(findLeaderChain(n(2), byLeader, count, () => true)).toBeUndefined()
  })
})
