import { describe, expect, it } from "vitest"
import type { GroupRecord, Keyspace, Replica } from "../../src/meta/ClusterState.js"
import { planLocalReplicas, tombstoneKey } from "../../src/meta/LocalReplicas.js"
import type { ShardMap } from "../../src/meta/MetaQuery.js"
import * as NodeShardMap from "../../src/node/NodeShardMap.js"
import { GroupId, NodeId, replicaIdOf } from "../../src/raft/Ids.js"
import type { ReplicaId } from "../../src/raft/Types.js"

const r = (node: number, gen = 0) => replicaIdOf(NodeId(node), gen)
const group = (
  id: number,
  replicas: Array<[ReplicaId, Replica["role"]]>,
  confVersion = 0,
  keyspace = "kv",
): GroupRecord => ({
  id: GroupId(id),
  keyspace: id === 0 ? "" : keyspace,
  replicas: replicas.map(([rid, role]) => ({ id: rid, role })),
  joint: false,
  confVersion,
  leaderHint: replicas[0]![0],
  leaderTerm: 0,
  nextGeneration: 1,
})
const keyspace = (name: string, kind: string, groups: number[]): Keyspace => ({
  name,
  kind,
  replicationFactor: 3,
  createdAt: 0,
  shards: groups.map((g, i) => ({ group: GroupId(g), start: i * 100, end: (i + 1) * 100 })),
})
const map = (
  groups: GroupRecord[],
  keyspaces: Keyspace[] = [keyspace("kv", "kv", [1, 2, 3])],
  version = 5,
): ShardMap => ({
  _tag: "ShardMap",
  version,
  keyspaces,
  groups,
})
const meta = group(0, [[r(1), "voter"]])
const all = () => true
const self = NodeId(2)

describe("local replicas from the shard map", () => {
  it("does nothing before the cluster is bootstrapped", () => {
    expect(
      planLocalReplicas(self, map([], []), [{ group: GroupId(0), replica: r(2) }], new Set(), all),
    ).toEqual([])
  })

  it("bootstraps the initial voters of a new group identically, and creates joining replicas and learners empty", () => {
    const m = map([
      meta,
      group(1, [
        [r(1), "voter"],
        [r(2), "voter"],
        [r(3), "voter"],
      ]),
      group(2, [
        [r(1), "voter"],
        [r(2, 3), "joining"],
      ]),
      group(
        3,
        [
          [r(1), "voter"],
          [r(2, 1), "learner"],
        ],
        7,
      ),
    ])
    expect(planLocalReplicas(self, m, [], new Set(), all)).toEqual([
      // The hint names r(1) as the group's first leader: this replica does not campaign at once.
      { _tag: "Create", group: 1, replica: r(2), kind: "kv", bootstrap: [r(1), r(2), r(3)], campaign: false },
      { _tag: "Create", group: 2, replica: r(2, 3), kind: "kv" },
      { _tag: "Create", group: 3, replica: r(2, 1), kind: "kv" },
    ])
    // The initial voter the hint names as first leader campaigns as soon as it is bootstrapped.
    const hinted = map([
      meta,
      group(1, [
        [r(2), "voter"],
        [r(1), "voter"],
        [r(3), "voter"],
      ]),
    ])
    expect(planLocalReplicas(self, hinted, [], new Set(), all)).toEqual([
      { _tag: "Create", group: 1, replica: r(2), kind: "kv", bootstrap: [r(2), r(1), r(3)], campaign: true },
    ])
  })

  it("creates the metadata group's replicas with its own kind", () => {
    const m = map([
      group(0, [
        [r(1), "voter"],
        [r(2, 1), "joining"],
      ]),
    ])
    expect(planLocalReplicas(self, m, [], new Set(), all)).toEqual([
      { _tag: "Create", group: 0, replica: r(2, 1), kind: "meta" },
    ])
  })

  it("never re-creates a voter that existed here, nor a replica removed here before", () => {
    const m = map([
      meta,
      group(
        1,
        [
          [r(1), "voter"],
          [r(2), "voter"],
        ],
        12,
      ),
      group(2, [
        [r(1), "voter"],
        [r(2, 2), "voter"],
      ]),
      group(3, [
        [r(1), "voter"],
        [r(2), "voter"],
      ]),
    ])
    const plan = planLocalReplicas(self, m, [], new Set([tombstoneKey(GroupId(3), r(2))]), all)
    expect(plan.map((a) => [a._tag, a.group])).toEqual([
      ["Skip", 1],
      ["Skip", 2],
      ["Skip", 3],
    ])
  })

  it("keeps tombstones per group: the same replica id removed from another group does not block a new group", () => {
    // Every new group's initial replica on a node has the same id (node, generation 0): group 9
    // of a keyspace created again after a deletion reuses the id of deleted group 3's replica.
    const m = map([
      meta,
      group(9, [
        [r(1), "voter"],
        [r(2), "voter"],
      ]),
    ])
    const plan = planLocalReplicas(self, m, [], new Set([tombstoneKey(GroupId(3), r(2))]), all)
    expect(plan).toEqual([
      { _tag: "Create", group: 9, replica: r(2), kind: "kv", bootstrap: [r(1), r(2)], campaign: false },
    ])
  })

  it("removes what the map no longer lists here, or lists under another replica id, before creating the new one", () => {
    const m = map([
      meta,
      group(1, [[r(1), "voter"]], 9),
      group(
        2,
        [
          [r(1), "voter"],
          [r(2, 4), "joining"],
        ],
        9,
      ),
      group(3, [
        [r(1), "voter"],
        [r(2), "voter"],
      ]),
    ])
    const hosted = [
      { group: GroupId(1), replica: r(2) },
      { group: GroupId(2), replica: r(2, 1) },
      { group: GroupId(3), replica: r(2) },
      { group: GroupId(8), replica: r(2) },
    ]
    expect(planLocalReplicas(self, m, hosted, new Set(), all)).toEqual([
      { _tag: "Remove", group: 1, replica: r(2), why: "not listed on this node" },
      { _tag: "Remove", group: 2, replica: r(2, 1), why: `replaced by replica ${r(2, 4)}` },
      { _tag: "Remove", group: 8, replica: r(2), why: "not listed on this node" },
    ])
  })

  it("skips replicas of a kind this node does not have", () => {
    const m = map(
      [
        meta,
        group(1, [
          [r(1), "voter"],
          [r(2), "voter"],
        ]),
      ],
      [keyspace("kv", "Counter", [1])],
    )
    const plan = planLocalReplicas(self, m, [], new Set(), (k) => k === "kv")
    expect(plan).toEqual([
      { _tag: "Skip", group: 1, replica: r(2), why: 'no state machine kind "Counter" here' },
    ])
  })
})

describe("the shard map cache", () => {
  it("only moves to newer versions and answers slots and kinds from the map it holds", () => {
    const cache = NodeShardMap.make()
    expect(cache.ownsSlot(GroupId(1), 5)).toBeUndefined()
    expect(cache.kindOf(GroupId(0))).toBe("meta")
    expect(cache.update(map([meta, group(1, [[r(1), "voter"]])], [keyspace("kv", "kv", [1, 2])], 3))).toBe(
      true,
    )
    expect(cache.version()).toBe(3)
    expect(cache.ownsSlot(GroupId(1), 5)).toBe(true)
    expect(cache.ownsSlot(GroupId(1), 150)).toBe(false)
    expect(cache.ownsSlot(GroupId(2), 150)).toBe(true)
    expect(cache.ownsSlot(GroupId(0), 1)).toBeUndefined()
    expect(cache.ownsSlot(GroupId(9), 1)).toBeUndefined()
    expect(cache.kindOf(GroupId(2))).toBe("kv")
    expect(cache.update(map([meta], [], 3))).toBe(false)
    expect(cache.update(map([meta], [], 2))).toBe(false)
    expect(cache.version()).toBe(3)
    expect(cache.update(map([meta], [], 4))).toBe(true)
    expect(cache.ownsSlot(GroupId(1), 5)).toBeUndefined()
  })
})
