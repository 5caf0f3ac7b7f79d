import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { ShardMap } from "../../src/meta/MetaQuery.js"
import { health, readiness } from "../../src/node/NodeHealth.js"
import * as NodeObservations from "../../src/node/NodeObservations.js"
import * as NodeShardMap from "../../src/node/NodeShardMap.js"
import { replicaIdOf } from "../../src/raft/Ids.js"
import type { NodeService, ReplicaBrief } from "../../src/runtime/Node.js"
import { RuntimeMetrics } from "../../src/runtime/RuntimeMetrics.js"

/** A node of which the checks read only its id, metrics and replicas. */
const fakeNode = (metrics: RuntimeMetrics, replicas: ReplicaBrief[] = []): NodeService =>
  ({
    nodeId: 1,
    metrics,
    forEachReplica: (f: (b: ReplicaBrief) => void) => Effect.sync(() => replicas.forEach(f)),
  }) as unknown as NodeService

const brief = (groupId: number, over: Partial<ReplicaBrief> = {}): ReplicaBrief => ({
  groupId: groupId as ReplicaBrief["groupId"],
  isLeader: false,
  leaderKnown: true,
  quiesced: false,
  stopped: false,
  term: 1,
  commit: 5,
  applied: 5,
  lastIndex: 5,
  mailbox: 0,
  ...over,
})

describe("/health", () => {
  it("is ok while the loop goes round and no write or connection is stuck", () => {
    const m = new RuntimeMetrics()
    m.loopAt = 1_000
    expect(health(fakeNode(m), 5_000, undefined)).toEqual({ ok: true, reasons: [] })
  })

  it("names a loop that never started, died or stopped going round", () => {
    const m = new RuntimeMetrics()
    expect(health(fakeNode(m), 1_000, undefined).reasons).toEqual(["engine loop has not started"])
    m.loopAt = 1_000
    expect(health(fakeNode(m), 12_000, undefined).reasons).toEqual(["engine loop stuck: no round for 11.0 s"])
    m.loopDied = "Error: boom"
    expect(health(fakeNode(m), 1_000, undefined).reasons).toEqual(["engine loop died: Error: boom"])
  })

  it("names a store write under way too long and a NATS connection down too long", () => {
    const m = new RuntimeMetrics()
    m.loopAt = 20_000
    m.writesInFlight.push(15_000, 2_000)
    const v = health(fakeNode(m), 20_000, 5_000, { stuckMs: 10_000 })
    expect(v.ok).toBe(false)
    expect(v.reasons).toEqual([
      "store stuck: a write under way for 18.0 s",
      "transport down: NATS disconnected for 15.0 s",
    ])
    m.writeEnded(2_000, 20_000, true)
    expect(health(fakeNode(m), 20_000, undefined).ok).toBe(true)
  })
})

describe("/ready", () => {
  const map = (groups: Array<{ id: number; nodes: number[] }>): ShardMap =>
    ({
      _tag: "ShardMap",
      version: 1,
      keyspaces: [],
      groups: groups.map((g) => ({
        id: g.id,
        keyspace: "kv",
        replicas: g.nodes.map((n) => ({ id: replicaIdOf(n as never, 1), role: "voter" })),
        joint: false,
        confVersion: 0,
        leaderHint: 0,
        leaderTerm: 0,
        nextGeneration: 2,
      })),
    }) as unknown as ShardMap

  const setup = () => {
    const m = new RuntimeMetrics()
    const o = NodeObservations.make()
    const cache = NodeShardMap.make()
    return { m, o, cache }
  }

  it("waits for registration, a heartbeat answered and a reconciliation", () => {
    const { m, o, cache } = setup()
    const check = (now: number) => Effect.runSync(readiness(fakeNode(m), o, cache, now))
    expect(check(100).reasons).toEqual(["not registered with the metadata group yet"])
    o.meta.registeredAt = 100
    expect(check(200).reasons).toEqual([
      "metadata group unreachable: no heartbeat answered yet",
      "local replicas not reconciled with the shard map yet",
    ])
    o.meta.lastHeartbeatAt = 300
    cache.update(map([]))
    o.meta.reconciledAt = 300
    expect(check(400)).toEqual({ ok: true, reasons: [] })
    o.meta.lastHeartbeatError = "RequestTimeout"
    expect(check(20_400).reasons).toEqual([
      "metadata group unreachable: no heartbeat answered for 20.1 s (last: RequestTimeout)",
    ])
  })

  it("names replicas of the map not loaded, and replicas without a leader or behind", () => {
    const { m, o, cache } = setup()
    o.meta.registeredAt = o.meta.lastHeartbeatAt = o.meta.reconciledAt = 100
    cache.update(
      map([
        { id: 1, nodes: [1, 2] },
        { id: 2, nodes: [1] },
        { id: 3, nodes: [2, 3] },
        { id: 4, nodes: [1] },
      ]),
    )
    const node = fakeNode(m, [
      brief(1),
      brief(2, { leaderKnown: false }),
      brief(9, { applied: 3, commit: 5_000 }),
      brief(10, { applied: 3, commit: 900 }),
    ])
    const v = Effect.runSync(readiness(node, o, cache, 200))
    expect(v.reasons).toEqual([
      "1 replica(s) (group 4) of the shard map not loaded",
      "2 replica(s) (groups 2, 9) without a leader or not caught up",
    ])
  })
})
