/**
 * The metadata state of a restored cluster (MetaRestore.ts, decision 0111): the backed-up
 * keyspaces, shards and counters with node 1 as the only node and every group's only voter.
 */
import { describe, expect, it } from "vitest"
import { restoreState } from "../../src/cli/backup/MetaRestore.js"
import { decodeState, encodeState } from "../../src/meta/MetaStateMachine.js"
import { NodeId, replicaIdOf } from "../../src/raft/Ids.js"
import { metaState } from "../client/support/MemoryCluster.js"

const node = { cluster: "copy", token: "tok", name: "r1", at: 5_000 }

describe("restoreState", () => {
  const before = metaState(
    "orig",
    3,
    [
      { name: "kv", kind: "kv" },
      { name: "tally", kind: "Tally" },
    ],
    4,
  )

  it("keeps keyspaces and groups, replaces the membership with node 1", () => {
    const { state, groups } = restoreState(before, node, (g) => 100 + g)
    expect(state.cluster).toBe("copy")
    expect(state.keyspaces).toEqual(before.keyspaces)
    expect(state.nextGroupId).toBe(before.nextGroupId)
    expect(state.shardMapVersion).toBe(before.shardMapVersion + 1)
    expect(state.nodes).toEqual([
      {
        id: 1,
        token: "tok",
        name: "r1",
        labels: {},
        state: "up",
        registeredAt: 5_000,
        lastHeartbeat: 5_000,
        stateSince: 5_000,
        kinds: ["Tally", "kv"],
      },
    ])
    expect(state.nextNodeId).toBe(2)
    expect(state.operators).toEqual([])
    expect(state.groups.map((g) => g.id)).toEqual(before.groups.map((g) => g.id))
    for (const [i, g] of state.groups.entries()) {
      const old = before.groups[i]!
      const replica = replicaIdOf(NodeId(1), old.nextGeneration)
      expect(g.replicas).toEqual([{ id: replica, role: "voter" }])
      expect(g.nextGeneration).toBe(old.nextGeneration + 1)
      expect(g.confVersion).toBe(100 + g.id)
      expect(g.leaderHint).toBe(replica)
      expect(g.joint).toBe(false)
    }
    expect(groups.find((g) => g.group === 0)?.kind).toBe("meta")
    const tallyGroup = before.groups.find((g) => g.keyspace === "tally")!.id
    expect(groups.find((g) => g.group === tallyGroup)?.kind).toBe("Tally")
    // The state is a valid snapshot of the metadata group.
    expect(decodeState(encodeState(state))).toEqual(state)
  })

  it("refuses a backup that misses a group", () => {
    const missing = before.groups[2]!.id
    expect(() => restoreState(before, node, (g) => (g === missing ? undefined : 1))).toThrow(
      `the backup holds no state for group ${missing}`,
    )
  })
})
