/**
 * `flotilla group status` without a cluster: choosing the groups from the shard map, and
 * joining each recorded replica with what its node said (leader, follower, stopped, not
 * hosted, no answer), the group's leader being the highest-term replica that says it leads.
 */
import { describe, expect, it } from "vitest"
import { type AdminReplica, render, reportOf, selectGroups } from "../../src/cli/GroupStatus.js"
import type { GroupRecord } from "../../src/meta/ClusterState.js"
import * as ShardMapIndex from "../../src/meta/ShardMapIndex.js"
import { GroupId, NodeId, replicaIdOf } from "../../src/raft/Ids.js"

const r = (node: number, generation = 0) => replicaIdOf(NodeId(node), generation)

const group = (id: number, replicas: GroupRecord["replicas"]): GroupRecord => ({
  id: GroupId(id),
  keyspace: id === 0 ? "" : "kv",
  replicas,
  joint: false,
  confVersion: 0,
  leaderHint: r(1),
  leaderTerm: 0,
  nextGeneration: 1,
})

const map = ShardMapIndex.fromShardMap({
  _tag: "ShardMap",
  version: 9,
  page: 0,
  pages: 1,
  keyspaces: [
    {
      name: "kv",
      kind: "kv",
      replicationFactor: 3,
      createdAt: 0,
      shards: [{ group: GroupId(1), start: 0, end: 16384 }],
    },
  ],
  groups: [
    group(0, [{ id: r(1), role: "voter" }]),
    group(1, [
      { id: r(1), role: "voter" },
      { id: r(2), role: "voter" },
      { id: r(3), role: "voter" },
      { id: r(4, 1), role: "learner" },
      { id: r(5, 1), role: "joining" },
    ]),
  ],
})

const seen = (replica: number, o: Partial<AdminReplica> = {}): AdminReplica => ({
  groupId: 1,
  replicaId: replica,
  isLeader: false,
  leader: 0,
  term: 4,
  commit: 10,
  applied: 9,
  lastIndex: 11,
  ...o,
})

describe("group status", () => {
  it("selects one group or a keyspace's groups, and says why there are none", () => {
    expect((selectGroups(map, { group: 1 }) as GroupRecord[]).map((g) => g.id)).toEqual([1])
    expect((selectGroups(map, { keyspace: "kv" }) as GroupRecord[]).map((g) => g.id)).toEqual([1])
    expect(selectGroups(map, { group: 7 })).toBe("no group 7 in the shard map (version 9)")
    expect(selectGroups(map, { keyspace: "x" })).toBe('no keyspace "x" in the shard map (version 9)')
  })

  it("joins every recorded replica with its node's answer", () => {
    const answers = new Map<number, AdminReplica | "absent" | undefined>([
      [1, seen(r(1), { isLeader: true, term: 3 })],
      [2, seen(r(2), { isLeader: true, term: 4 })], // a newer term: this is the leader
      [3, seen(r(3), { stopped: "checksum mismatch" })],
      [4, "absent"],
      [5, undefined],
    ])
    const report = reportOf(map, map.groups.get(1)!, (n) => answers.get(n))
    expect(report).toMatchObject({ group: 1, keyspace: "kv", slots: "0-16383", leader: 2, term: 4 })
    expect(report.replicas.map((x) => [x.node, x.role, x.state])).toEqual([
      [1, "voter", "leader"],
      [2, "voter", "leader"],
      [3, "voter", "stopped: checksum mismatch"],
      [4, "learner", "not hosted"],
      [5, "joining", "no answer"],
    ])
    expect(report.replicas[0]).toMatchObject({ term: 3, commit: 10, applied: 9, lastIndex: 11 })
    expect(report.replicas[4]!.applied).toBeUndefined()
    // A node hosting the group under another replica id does not host the recorded one.
    const other = reportOf(map, map.groups.get(1)!, (n) => (n === 1 ? seen(r(1, 7)) : undefined))
    expect(other.replicas[0]!.state).toBe("not hosted")
    expect(other.leader).toBeUndefined()

    const text = render({ mapVersion: 9, groups: [report] })
    expect(text.split("\n")[0]).toBe("group 1 (kv, slots 0-16383): leader n2, term 4")
    expect(text).toMatch(/^1\s+n5\s+\d+\s+joining\s+no answer\s+-\s+-\s+-\s+-$/m)
  })

  it("names the metadata group", () => {
    const report = reportOf(map, map.groups.get(0)!, () => undefined)
    expect(report).toMatchObject({ group: 0, keyspace: "(meta)", slots: "-", leader: undefined })
  })
})
