/**
 * Balancing leaders with chains of transfers. A group's leadership can only move to one of its
 * voters, so a node leading two more groups than another may share no group with it; a direct
 * transfer is then impossible, but a chain may exist: s hands group A to u, u hands group B to
 * t. The chain lowers s by one and raises t by one, leaving every node between unchanged.
 *
 * `findLeaderChain` searches such chains breadth first (shortest first). When no chain leaves
 * a node leading `c` groups towards a node leading `c - 2` or fewer, no reassignment of leaders
 * among the groups' voters can lower the largest count: the leader counts are as balanced as
 * the placement allows. Used by the initial placement of a keyspace and by the planner.
 *
 * Deterministic: nodes and groups are visited in the order given, candidates by count then id.
 */
import type { NodeId } from "../raft/Ids.js"

/** One group whose leadership may move: who leads it, and who may take it (its eligible voters). */
export interface Leadership<G> {
  readonly group: G
  readonly leader: NodeId
  readonly candidates: ReadonlyArray<NodeId>
}

/** One transfer of a chain: `group`'s leadership from `from` to `to`. */
export interface ChainStep<G> {
  readonly group: G
  readonly from: NodeId
  readonly to: NodeId
}

/**
 * The shortest chain of transfers from `source` to a node leading at least two fewer groups,
 * through nodes for which `eligible` holds; `undefined` when there is none. `byLeader` lists
 * the movable leaderships per leading node; each group appears once at most.
 */
export const findLeaderChain = <G>(
  source: NodeId,
  byLeader: ReadonlyMap<NodeId, ReadonlyArray<Leadership<G>>>,
  count: (node: NodeId) => number,
  eligible: (node: NodeId) => boolean,
): ChainStep<G>[] | undefined => {
  const limit = count(source) - 2
  const via = new Map<NodeId, ChainStep<G>>()
  const queue: NodeId[] = [source]
  const seen = new Set<NodeId>([source])
  for (let head = 0; head < queue.length; head++) {
    const x = queue[head]!
    for (const item of byLeader.get(x) ?? []) {
      const next = [...item.candidates]
        .filter((y) => !seen.has(y) && eligible(y))
        .sort((a, b) => count(a) - count(b) || a - b)
      for (const y of next) {
        seen.add(y)
        via.set(y, { group: item.group, from: x, to: y })
        if (count(y) <= limit) return unwind(via, source, y)
        queue.push(y)
      }
    }
  }
  return undefined
}

const unwind = <G>(via: ReadonlyMap<NodeId, ChainStep<G>>, source: NodeId, end: NodeId): ChainStep<G>[] => {
  const steps: ChainStep<G>[] = []
  for (let at = end; at !== source; ) {
    const step = via.get(at)!
    steps.push(step)
    at = step.from
  }
  return steps.reverse()
}

/**
 * Rebalances an assignment of leaders in place by applying chains until none is left: takes
 * the leaderships, the current counts per node (every node that may lead, other groups
 * included), and returns the new leader of each group. Terminates: every chain lowers the sum
 * of squared counts.
 */
export const balanceLeaders = <G>(
  items: ReadonlyArray<Leadership<G>>,
  counts: Map<NodeId, number>,
): Map<G, NodeId> => {
  const leader = new Map<G, NodeId>(items.map((i) => [i.group, i.leader]))
  const count = (n: NodeId) => counts.get(n) ?? 0
  const nodes = [...counts.keys()]
  for (;;) {
    const byLeader = new Map<NodeId, Leadership<G>[]>()
    for (const i of items) {
      const l = leader.get(i.group)!
      const list = byLeader.get(l)
      if (list === undefined) byLeader.set(l, [{ ...i, leader: l }])
      else list.push({ ...i, leader: l })
    }
    const sources = [...nodes].sort((a, b) => count(b) - count(a) || a - b)
    let chain: ChainStep<G>[] | undefined
    for (const s of sources) {
      chain = findLeaderChain(s, byLeader, count, (n) => counts.has(n))
      if (chain !== undefined) break
    }
    if (chain === undefined) return leader
    for (const step of chain) {
      leader.set(step.group, step.to)
      counts.set(step.from, count(step.from) - 1)
      counts.set(step.to, count(step.to) + 1)
    }
  }
}
