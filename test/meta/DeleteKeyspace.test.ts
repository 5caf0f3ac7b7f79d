/**
 * `DeleteKeyspace` in the metadata state machine: the keyspace and its groups leave the state
 * (and so the shard map), operators on them end, a second delete is refused without a change,
 * the name can be created again with new groups, and snapshots carry all of it.
 */
import { describe, expect, it } from "vitest"
import { DELETED_CAUSE } from "../../src/meta/ApplyDeleteKeyspace.js"
import { findGroup } from "../../src/meta/ClusterState.js"
import { decodeResponse, encodeCommand } from "../../src/meta/MetaCommand.js"
import { MetaStateMachine } from "../../src/meta/MetaStateMachine.js"
import { GroupId } from "../../src/raft/Ids.js"
import { cluster, must } from "./Helpers.js"

/** Three nodes, keyspaces `a` (2 shards: groups 1, 2) and `b` (1 shard: group 3). */
const setup = (): MetaStateMachine => {
  const sm = cluster(3)
  must(sm, { _tag: "CreateKeyspace", name: "a", shards: 2, replicationFactor: 3, at: 1 })
  must(sm, { _tag: "CreateKeyspace", name: "b", shards: 1, replicationFactor: 3, at: 1 })
  return sm
}

describe("DeleteKeyspace", () => {
  it("removes the keyspace and its groups from the state and the shard map, and bumps the map version", () => {
    const sm = setup()
    const version = sm.state().shardMapVersion
    expect(sm.applyCommand({ _tag: "DeleteKeyspace", name: "a", at: 5 })).toEqual({
      _tag: "KeyspaceDeleted",
      name: "a",
      groups: [1, 2],
    })
    const s = sm.state()
    expect(s.keyspaces.map((k) => k.name)).toEqual(["b"])
    expect(s.groups.map((g) => g.id)).toEqual([0, 3])
    expect(s.shardMapVersion).toBe(version + 1)
    const map = sm.ask({ _tag: "GetShardMap", keyspace: "", knownVersion: 0 })
    expect(map._tag === "ShardMap" && map.groups.map((g) => g.id)).toEqual([0, 3])
    expect(sm.ask({ _tag: "GetShardMap", keyspace: "a", knownVersion: 0 })._tag).toBe("UnknownKeyspace")
    expect(sm.ask({ _tag: "LookupKey", keyspace: "a", key: "k" })._tag).toBe("UnknownKeyspace")
    // The nodes no longer count the deleted replicas: 1 (meta, on node 1 only) + 1 (b).
    const nodes = sm.ask({ _tag: "GetNodes" })
    expect(nodes._tag === "NodeList" && nodes.nodes.map((x) => x.replicas)).toEqual([2, 1, 1])
  })

  it("is refused for an unknown keyspace, and a second delete is refused without changing the state", () => {
    const sm = setup()
    expect(sm.applyCommand({ _tag: "DeleteKeyspace", name: "nope", at: 5 })).toMatchObject({
      _tag: "UnknownKeyspace",
      name: "nope",
    })
    must(sm, { _tag: "DeleteKeyspace", name: "b", at: 5 })
    const after = sm.snapshot()
    // The same command applied again (a retried proposal): refused, nothing changes.
    const again = decodeResponse(sm.apply(encodeCommand({ _tag: "DeleteKeyspace", name: "b", at: 5 }), 99))
    expect(again).toMatchObject({ _tag: "UnknownKeyspace", name: "b" })
    expect(sm.snapshot()).toEqual(after)
  })

  it("ends the operators in flight on the deleted groups as rolled back, and keeps the others", () => {
    const sm = setup()
    const transfer = (group: number) => ({
      _tag: "TransferLeader" as const,
      group: GroupId(group),
      from: findGroup(sm.state(), group)!.replicas[0]!.id,
      to: findGroup(sm.state(), group)!.replicas[1]!.id,
      reason: "balance-leaders" as const,
    })
    must(sm, { _tag: "StartOperator", spec: transfer(1), at: 2 })
    must(sm, { _tag: "StartOperator", spec: transfer(3), at: 2 })
    must(sm, { _tag: "DeleteKeyspace", name: "a", at: 7 })
    const s = sm.state()
    expect(s.operators.map((o) => o.spec.group)).toEqual([3])
    expect(s.history).toHaveLength(1)
    expect(s.history[0]).toMatchObject({ status: "rolled-back", cause: DELETED_CAUSE, updatedAt: 7 })
    expect(s.history[0]!.spec.group).toBe(1)
  })

  it("frees the name: a keyspace created again under it gets new groups", () => {
    const sm = setup()
    must(sm, { _tag: "DeleteKeyspace", name: "a", at: 5 })
    expect(must(sm, { _tag: "CreateKeyspace", name: "a", shards: 2, replicationFactor: 3, at: 6 })).toEqual({
      _tag: "KeyspaceCreated",
      name: "a",
      groups: [4, 5],
    })
    expect(sm.state().groups.map((g) => g.id)).toEqual([0, 3, 4, 5])
    expect(sm.state().keyspaces.map((k) => k.name)).toEqual(["a", "b"])
  })

  it("is carried by snapshots: a restored replica has the deletion and continues identically", () => {
    const sm = setup()
    must(sm, { _tag: "DeleteKeyspace", name: "a", at: 5 })
    const copy = new MetaStateMachine()
    copy.restore(sm.snapshot())
    expect(copy.state()).toEqual(sm.state())
    expect(copy.state().keyspaces.map((k) => k.name)).toEqual(["b"])
    const next = { _tag: "CreateKeyspace", name: "a", shards: 1, replicationFactor: 3, at: 6 } as const
    expect(copy.applyCommand(next)).toEqual(sm.applyCommand(next))
    expect(copy.snapshot()).toEqual(sm.snapshot())
  })
})
