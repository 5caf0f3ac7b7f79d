/**
 * Placement with real node processes over a real nats-server and LevelDB, while a KV workload
 * runs the whole time (KvWorkload.ts: routes by the shard map, retries what is retryable):
 *
 * 1. node 1 bootstraps, nodes 2 and 3 join; a keyspace of 12 shards, R = 3;
 * 2. a 4th node joins: replicas and leaders rebalance within ±1;
 * 3. the metadata leader is SIGKILLed and stays down past the down timeout: its replicas are
 *    re-created on the others (the metadata group's too); it restarts with its data, rejoins
 *    as itself, drops what moved away and gets its share back;
 * 4. a node is drained: all its replicas move off; then it is removed;
 *
 * then the workload stops: no request failed (each one succeeded, retried when needed) and
 * every acknowledged write reads back. Small timeouts come from the cluster settings given at
 * bootstrap.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { GroupRecord } from "../../src/meta/ClusterState.js"
import { nodeOfReplica } from "../../src/raft/Ids.js"
import { ProcessCluster } from "../../src/testing/ProcessCluster.js"
import { KvRouter, Workload } from "./KvWorkload.js"

const SHARDS = 12
let cluster: ProcessCluster
let workload: Workload

interface View {
  readonly groups: ReadonlyArray<GroupRecord>
  readonly inFlight: number
  readonly nodes: ReadonlyArray<{ readonly id: number; readonly state: string }>
}

const view = async (): Promise<View> => {
  const map = (await cluster.meta({ _tag: "GetShardMap" })) as unknown as { groups: GroupRecord[] }
  const ops = (await cluster.meta({ _tag: "GetOperators" })) as unknown as { inFlight: unknown[] }
  const nodes = (await cluster.meta({ _tag: "GetNodes" })) as unknown as { nodes: View["nodes"] }
  return { groups: map.groups, inFlight: ops.inFlight.length, nodes: nodes.nodes }
}

const within = (counts: number[]) => {
  const mean = counts.reduce((a, b) => a + b, 0) / counts.length
  return counts.every((c) => Math.abs(c - mean) <= 1)
}

/** Why the cluster is not settled on `live` nodes (undefined when it is). */
const unsettled = async (live: number[], balance: boolean): Promise<string | undefined> => {
  const v = await view()
  if (v.inFlight > 0) return `${v.inFlight} operators in flight`
  const replicas = new Map(live.map((n) => [n, 0]))
  const leaders = new Map(live.map((n) => [n, 0]))
  for (const g of v.groups) {
    const want = g.id === 0 ? Math.min(3, live.length) : 3
    if (
      g.replicas.length !== want ||
      g.replicas.some((r) => r.role !== "voter" || !live.includes(nodeOfReplica(r.id)))
    )
      return `group ${g.id}: ${JSON.stringify(g.replicas)}`
    if (g.id === 0) continue
    for (const r of g.replicas) replicas.set(nodeOfReplica(r.id), replicas.get(nodeOfReplica(r.id))! + 1)
    if (g.leaderHint !== 0)
      leaders.set(nodeOfReplica(g.leaderHint), (leaders.get(nodeOfReplica(g.leaderHint)) ?? 0) + 1)
  }
  // Every live node hosts exactly what the record lists for it.
  for (const n of live) {
    const st = await cluster.status(n)
    if (st === undefined) return `node ${n} does not answer`
    const hosted = new Map(st.groups.map((g) => [g.groupId, g.replicaId]))
    for (const g of v.groups) {
      const r = g.replicas.find((x) => nodeOfReplica(x.id) === n)
      if (r !== undefined && hosted.get(g.id) !== r.id)
        return `node ${n} lacks replica ${r.id} of group ${g.id}`
      if (r === undefined && hosted.has(g.id)) return `node ${n} still hosts group ${g.id}`
    }
  }
  if (balance && (!within([...replicas.values()]) || !within([...leaders.values()])))
    return `unbalanced: replicas ${[...replicas]}, leaders ${[...leaders]}`
  return undefined
}

const settle = async (what: string, live: number[], balance = true, timeoutMs = 120_000) => {
  let last: string | undefined
  await cluster
    .waitFor(
      what,
      async () => {
        last = await unsettled(live, balance)
        return last === undefined ? true : undefined
      },
      timeoutMs,
      500,
    )
    .catch((e) => {
      throw new Error(`${(e as Error).message} (last: ${last})\n${nodeLogs()}`)
    })
}

/** The last log lines of every node, for failure messages. */
const nodeLogs = (lines = 40): string =>
  cluster.nodes
    .map((n) => `--- node ${n.options.nodeId}\n${n.logs().split("\n").slice(-lines).join("\n")}`)
    .join("\n")

describe("placement with real processes under a client workload", () => {
  beforeAll(async () => {
    cluster = await ProcessCluster.start({
      nodes: 3,
      cluster: "test",
      managed: {
        clusterSettings: {
          heartbeatTimeoutMs: 2_000,
          downTimeoutMs: 5_000,
          operatorTimeoutMs: 60_000,
          transferTimeoutMs: 10_000,
          maxOperatorsPerNode: 4,
        },
      },
      nodeArgs: ["--report-ms", "300", "--placement-ms", "200"],
    })
    const created = await cluster.meta({
      _tag: "CreateKeyspace",
      name: "kv",
      shards: SHARDS,
      replicationFactor: 3,
    })
    expect(created._tag).toBe("KeyspaceCreated")
    await settle("the keyspace placed on 3 nodes", [1, 2, 3])
    const router = new KvRouter(cluster.client, cluster.cluster)
    await router.refresh()
    workload = new Workload(router, { writers: 8, prefix: "w", pauseMs: 5, deadlineMs: 60_000 })
    workload.start()
  }, 240_000)

  afterAll(async () => {
    await workload?.stop()
    await cluster?.close()
  })

  it("a 4th node joins: replicas and leaders rebalance within ±1", async () => {
    const before = workload.acked.size
    expect(await cluster.addNode()).toBe(4)
    await settle("4 nodes balanced", [1, 2, 3, 4])
    const v = await view()
    const onNew = v.groups.filter((g) => g.id !== 0 && g.replicas.some((r) => nodeOfReplica(r.id) === 4))
    expect(onNew.length).toBe((SHARDS * 3) / 4)
    expect(workload.acked.size).toBeGreaterThan(before)
    expect(workload.failures, nodeLogs()).toEqual([])
  }, 180_000)

  it("the metadata leader is killed past the down timeout: its replicas are replaced; restarted, it rejoins as itself", async () => {
    const leaderOf0 = (await view()).groups.find((g) => g.id === 0)!.leaderHint
    const victim = nodeOfReplica(leaderOf0)
    const live = [1, 2, 3, 4].filter((n) => n !== victim)
    await cluster.node(victim).kill("SIGKILL")
    await cluster.waitFor(`node ${victim} recorded down`, async () => {
      const v = await view()
      return v.nodes.find((n) => n.id === victim)?.state === "down" ? true : undefined
    })
    await settle("full replication on the 3 other nodes", live, false)
    const before = workload.acked.size
    await cluster.node(victim).start()
    expect(cluster.node(victim).nodeId).toBe(victim)
    await settle("4 nodes balanced after the restart", [1, 2, 3, 4])
    expect(workload.acked.size).toBeGreaterThan(before)
    expect(workload.failures, nodeLogs()).toEqual([])
  }, 240_000)

  it("a node is drained, then removed", async () => {
    const victim = 2
    expect((await cluster.meta({ _tag: "SetNodeState", node: victim, state: "draining" }))._tag).toBe("Done")
    await settle(`node ${victim} drained`, [1, 3, 4], false)
    expect((await cluster.meta({ _tag: "SetNodeState", node: victim, state: "removed" }))._tag).toBe("Done")
    await cluster
      .waitFor(`node ${victim} hosting nothing`, async () => {
        const st = await cluster.status(victim)
        return st?.groups.length === 0 ? true : undefined
      })
      .catch((e) => {
        throw new Error(`${(e as Error).message}\n${nodeLogs()}`)
      })
    expect(workload.failures, nodeLogs()).toEqual([])
  }, 180_000)

  it("no request failed and every acknowledged write reads back", async () => {
    await workload.stop()
    expect(workload.failures, nodeLogs()).toEqual([])
    expect(workload.acked.size).toBeGreaterThan(100)
    const lost = await workload.verify()
    expect(lost, nodeLogs()).toEqual([])
  }, 120_000)
})
