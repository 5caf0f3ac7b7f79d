import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { findGroup, zoneOf } from "../../src/meta/ClusterState.js"
import { SLOT_COUNT } from "../../src/meta/Slots.js"
import { GroupId, generationOfReplica, nodeOfReplica, replicaIdOf } from "../../src/raft/Ids.js"
import type { ReplicaId } from "../../src/raft/Types.js"
import { cluster, must, n } from "./Helpers.js"

const g = GroupId
const r = (node: number, generation = 0) => replicaIdOf(n(node), generation)

describe("keyspaces", () => {
  it("split the slot space and place every shard on distinct nodes, spreading replicas and leaders", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 7 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 3 }),
        (nodes, shards, rf) => {
          const sm = cluster(nodes)
          const res = must(sm, { _tag: "CreateKeyspace", name: "kv", shards, replicationFactor: rf, at: 1 })
          const s = sm.state()
          const ks = s.keyspaces[0]!
          expect(res).toEqual({ _tag: "KeyspaceCreated", name: "kv", groups: ks.shards.map((x) => x.group) })
          expect(ks.shards[0]!.start).toBe(0)
          expect(ks.shards.at(-1)!.end).toBe(SLOT_COUNT)
          for (let i = 1; i < ks.shards.length; i++) expect(ks.shards[i]!.start).toBe(ks.shards[i - 1]!.end)
          const replicas = new Map<number, number>()
          const leaders = new Map<number, number>()
          for (const shard of ks.shards) {
            const group = findGroup(s, shard.group)!
            expect(group.replicas.length).toBe(rf)
            const hosts = group.replicas.map((x) => nodeOfReplica(x.id))
            expect(new Set(hosts).size).toBe(rf)
            for (const h of hosts) replicas.set(h, (replicas.get(h) ?? 0) + 1)
            expect(hosts).toContain(nodeOfReplica(group.leaderHint))
            leaders.set(
              nodeOfReplica(group.leaderHint),
              (leaders.get(nodeOfReplica(group.leaderHint)) ?? 0) + 1,
            )
          }
          const spread = (m: Map<number, number>, total: number) => {
            const counts = Array.from({ length: nodes }, (_, i) => m.get(i + 1) ?? 0)
            expect(counts.reduce((a, b) => a + b, 0)).toBe(total)
            expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1)
          }
          spread(replicas, shards * rf)
          spread(leaders, shards)
        },
      ),
      { numRuns: 40 },
    )
  })

  it("put the replicas of a shard in distinct zones when zones bind", () => {
    const sm = cluster(6, ["a", "a", "b", "b", "c", "c"])
    must(sm, { _tag: "CreateKeyspace", name: "kv", shards: 12, replicationFactor: 3, at: 1 })
    const s = sm.state()
    for (const group of s.groups.filter((x) => x.id !== 0)) {
      const zones = group.replicas.map((x) => zoneOf(s.nodes[nodeOfReplica(x.id) - 1]!))
      expect(new Set(zones).size).toBe(3)
    }
  })

  it("refuse bad names, duplicates, bad counts and clusters too small", () => {
    const sm = cluster(3)
    const create = (name: string, shards: number, replicationFactor: number, at = 1) =>
      sm.applyCommand({ _tag: "CreateKeyspace", name, shards, replicationFactor, at })._tag
    expect(create("Bad", 1, 1)).toBe("InvalidArgument")
    expect(create("kv", 0, 1)).toBe("InvalidArgument")
    expect(create("kv", SLOT_COUNT + 1, 1)).toBe("InvalidArgument")
    expect(create("kv", 1, 8)).toBe("InvalidArgument")
    expect(create("kv", 1, 4)).toBe("NotEnoughNodes")
    // Nodes silent past the heartbeat timeout at the proposer's time do not count as up.
    expect(create("kv", 1, 3, 60_000)).toBe("NotEnoughNodes")
    expect(create("kv", 2, 0)).toBe("KeyspaceCreated")
    expect(create("kv", 2, 0)).toBe("KeyspaceExists")
    expect(sm.state().keyspaces[0]!.replicationFactor).toBe(3)
    expect(sm.state().nextGroupId).toBe(3)
  })

  it("change their replication factor", () => {
    const sm = cluster(3)
    must(sm, { _tag: "CreateKeyspace", name: "kv", shards: 1, replicationFactor: 3, at: 1 })
    must(sm, { _tag: "SetReplicationFactor", keyspace: "kv", replicationFactor: 5 })
    expect(sm.state().keyspaces[0]!.replicationFactor).toBe(5)
    expect(sm.applyCommand({ _tag: "SetReplicationFactor", keyspace: "x", replicationFactor: 3 })._tag).toBe(
      "UnknownKeyspace",
    )
  })
})

describe("replica changes", () => {
  const setup = () => {
    const sm = cluster(4)
    must(sm, { _tag: "CreateKeyspace", name: "kv", shards: 1, replicationFactor: 3, at: 1 })
    return sm
  }

  it("allocate fresh generations, and record add → promote → remove with growing versions", () => {
    const sm = setup()
    const group = findGroup(sm.state(), 1)!
    const free = [1, 2, 3, 4].find((x) => !group.replicas.some((y) => nodeOfReplica(y.id) === x))!
    const added = sm.applyCommand({ _tag: "AddLearner", group: g(1), node: n(free), operator: 0 })
    expect(added).toEqual({ _tag: "ReplicaAllocated", group: 1, replica: r(free, 1) })
    expect(findGroup(sm.state(), 1)!.replicas.find((x) => x.id === r(free, 1))!.role).toBe("joining")
    expect(sm.applyCommand({ _tag: "AddLearner", group: g(1), node: n(free), operator: 0 })._tag).toBe(
      "ReplicaExists",
    )
    must(sm, { _tag: "PromoteLearner", group: g(1), replica: r(free, 1), confVersion: 5 })
    expect(
      sm.applyCommand({ _tag: "PromoteLearner", group: g(1), replica: r(free, 1), confVersion: 6 })._tag,
    ).toBe("UnknownReplica")
    const old = group.replicas[0]!.id
    expect(sm.applyCommand({ _tag: "DropReplica", group: g(1), replica: old, confVersion: 5 })._tag).toBe(
      "StaleMembership",
    )
    must(sm, { _tag: "DropReplica", group: g(1), replica: old, confVersion: 6 })
    const after = findGroup(sm.state(), 1)!
    expect(after.confVersion).toBe(6)
    expect(after.replicas.every((x) => x.role === "voter")).toBe(true)
    expect(after.replicas.map((x) => x.id)).not.toContain(old)
    // Re-adding on the node that just lost its replica gives a new generation: a new identity.
    const back = sm.applyCommand({ _tag: "AddLearner", group: g(1), node: nodeOfReplica(old), operator: 0 })
    expect(back._tag === "ReplicaAllocated" && generationOfReplica(back.replica)).toBe(2)
  })

  it("release a joining replica without a version, and never drop the last voter", () => {
    const sm = cluster(2)
    must(sm, { _tag: "AddLearner", group: g(0), node: n(2), operator: 0 })
    must(sm, { _tag: "DropReplica", group: g(0), replica: r(2, 1), confVersion: 0 })
    expect(findGroup(sm.state(), 0)!.replicas).toEqual([{ id: 1, role: "voter" }])
    expect(sm.applyCommand({ _tag: "DropReplica", group: g(0), replica: r(1), confVersion: 9 })._tag).toBe(
      "InvalidArgument",
    )
    expect(sm.applyCommand({ _tag: "AddLearner", group: g(7), node: n(2), operator: 0 })._tag).toBe(
      "UnknownGroup",
    )
    must(sm, { _tag: "SetNodeState", node: n(2), state: "draining", at: 1 })
    expect(sm.applyCommand({ _tag: "AddLearner", group: g(0), node: n(2), operator: 0 })._tag).toBe(
      "NodeUnavailable",
    )
  })

  it("record an applied membership, keeping joining replicas the group has not added yet", () => {
    const sm = cluster(4)
    must(sm, { _tag: "AddLearner", group: g(0), node: n(2), operator: 0 })
    must(sm, { _tag: "AddLearner", group: g(0), node: n(3), operator: 0 })
    const record = (
      confVersion: number,
      voters: ReplicaId[],
      learners: ReplicaId[],
      outgoing: ReplicaId[] = [],
    ) =>
      sm.applyCommand({
        _tag: "RecordMembership",
        group: g(0),
        confVersion,
        voters,
        learners,
        votersOutgoing: outgoing,
        learnersNext: [],
      })
    expect(record(3, [r(1)], [r(2, 1)])._tag).toBe("Done")
    expect(findGroup(sm.state(), 0)!.replicas).toEqual([
      { id: r(1), role: "voter" },
      { id: r(2, 1), role: "learner" },
      { id: r(3, 2), role: "joining" },
    ])
    expect(record(3, [r(1)], [])._tag).toBe("StaleMembership")
    expect(record(4, [], [])._tag).toBe("InvalidArgument")
    expect(record(4, [r(1)], [r(1)])._tag).toBe("InvalidArgument")
    expect(record(4, [r(1), r(1, 5)], [])._tag).toBe("InvalidArgument")
    expect(record(4, [r(1), r(9)], [])._tag).toBe("UnknownNode")
    expect(record(5, [r(1), r(2, 1)], [], [r(1)])._tag).toBe("Done")
    const joint = findGroup(sm.state(), 0)!
    expect(joint.joint).toBe(true)
    expect(joint.confVersion).toBe(5)
    // An unknown replica of a known node is taken in, and later generations stay fresh.
    expect(record(6, [r(1), r(2, 1), r(4, 7)], [])._tag).toBe("Done")
    expect(findGroup(sm.state(), 0)!.nextGeneration).toBe(8)
    expect(findGroup(sm.state(), 0)!.joint).toBe(false)
  })

  it("accept leader hints from the current or a newer term, for voters only", () => {
    const sm = cluster(3)
    must(sm, { _tag: "CreateKeyspace", name: "kv", shards: 1, replicationFactor: 3, at: 1 })
    const hint = (leader: ReplicaId, term: number) =>
      sm.applyCommand({ _tag: "SetLeaderHint", group: g(1), leader, term })._tag
    expect(hint(r(2), 4)).toBe("Done")
    expect(hint(r(3), 3)).toBe("StaleLeaderHint")
    expect(hint(r(3, 4), 5)).toBe("UnknownReplica")
    expect(hint(r(3), 4)).toBe("Done")
    expect(findGroup(sm.state(), 1)).toMatchObject({ leaderHint: r(3), leaderTerm: 4 })
    expect(sm.applyCommand({ _tag: "SetLeaderHint", group: g(9), leader: r(1), term: 1 })._tag).toBe(
      "UnknownGroup",
    )
  })
})
