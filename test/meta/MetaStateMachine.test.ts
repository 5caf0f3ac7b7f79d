import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { emptyClusterState, findGroup, findNode } from "../../src/meta/ClusterState.js"
import { decodeResponse, encodeCommand, type MetaCommand } from "../../src/meta/MetaCommand.js"
import { decodeQueryResponse, encodeQuery } from "../../src/meta/MetaQuery.js"
import { applyCommand, decodeState, MetaStateMachine } from "../../src/meta/MetaStateMachine.js"
import { generationOfReplica, nodeOfReplica } from "../../src/raft/Ids.js"
import { bootstrap, command, history } from "./Arbitraries.js"

const bytes = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

/** Applies every command through the byte interface; returns each response's bytes. */
const run = (sm: MetaStateMachine, commands: ReadonlyArray<MetaCommand>): string[] =>
  commands.map((c, i) => text(sm.apply(encodeCommand(c), i + 1)))

describe("MetaStateMachine", () => {
  it("is deterministic: the same commands give the same responses and the same snapshot bytes", () => {
    fc.assert(
      fc.property(history(), (commands) => {
        const a = new MetaStateMachine()
        const b = new MetaStateMachine()
        expect(run(a, commands)).toEqual(run(b, commands))
        expect(text(a.snapshot())).toEqual(text(b.snapshot()))
      }),
      { numRuns: 60 },
    )
  })

  it("never throws on any command, and refusals leave the state untouched", () => {
    fc.assert(
      fc.property(history(), (commands) => {
        let state = emptyClusterState
        for (const c of commands) {
          const { state: next, response } = applyCommand(state, c)
          const refused = ![
            "Done",
            "Bootstrapped",
            "NodeRegistered",
            "KeyspaceCreated",
            "KeyspaceDeleted",
            "ReplicaAllocated",
            "OperatorStarted",
          ].includes(response._tag)
          if (refused) expect(next).toBe(state)
          state = next
        }
      }),
      { numRuns: 80 },
    )
  })

  it("keeps its structural invariants under any history", () => {
    fc.assert(
      fc.property(history(80), (commands) => {
        const sm = new MetaStateMachine()
        run(sm, commands)
        const s = sm.state()
        const sorted = (ids: number[]) => ids.every((id, i) => i === 0 || ids[i - 1]! < id)
        expect(sorted(s.nodes.map((n) => n.id))).toBe(true)
        expect(sorted(s.groups.map((g) => g.id))).toBe(true)
        expect(sorted(s.operators.map((o) => o.id))).toBe(true)
        expect(new Set(s.operators.map((o) => o.spec.group)).size).toBe(s.operators.length)
        for (const g of s.groups) {
          expect(sorted(g.replicas.map((r) => r.id))).toBe(true)
          const nodes = g.replicas.map((r) => nodeOfReplica(r.id))
          expect(new Set(nodes).size).toBe(nodes.length)
          for (const n of nodes) expect(findNode(s, n)).toBeDefined()
          expect(g.replicas.some((r) => r.role === "voter")).toBe(true)
        }
        for (const n of s.nodes) {
          if (n.state === "removed") {
            expect(s.groups.every((g) => g.replicas.every((r) => nodeOfReplica(r.id) !== n.id))).toBe(true)
          }
        }
      }),
      { numRuns: 80 },
    )
  })

  it("allocates every new replica with a generation above any the group has seen", () => {
    fc.assert(
      fc.property(history(80), (commands) => {
        let state = emptyClusterState
        const highest = new Map<number, number>()
        const see = () => {
          for (const g of state.groups) {
            for (const r of g.replicas) {
              highest.set(g.id, Math.max(highest.get(g.id) ?? -1, generationOfReplica(r.id)))
            }
          }
        }
        for (const c of commands) {
          const before = state
          const { state: next, response } = applyCommand(state, c)
          state = next
          if (response._tag === "ReplicaAllocated") {
            const known = findGroup(before, response.group)!.replicas.some((r) => r.id === response.replica)
            const retried = before.operators.some((o) => o.newReplica === response.replica)
            if (!known && !retried) {
              expect(generationOfReplica(response.replica)).toBeGreaterThan(highest.get(response.group) ?? -1)
            }
          }
          see()
        }
      }),
      { numRuns: 80 },
    )
  })

  it("round-trips through snapshot and restore, and continues identically", () => {
    fc.assert(
      fc.property(history(40), fc.array(command, { maxLength: 20 }), (before, after) => {
        const a = new MetaStateMachine()
        run(a, before)
        const b = new MetaStateMachine()
        b.restore(a.snapshot())
        expect(b.state()).toEqual(a.state())
        expect(text(b.snapshot())).toEqual(text(a.snapshot()))
        expect(run(b, after)).toEqual(run(a, after))
        expect(text(b.snapshot())).toEqual(text(a.snapshot()))
      }),
      { numRuns: 40 },
    )
  })

  it("answers malformed bytes with MalformedRequest, never a throw", () => {
    const sm = new MetaStateMachine()
    run(sm, [bootstrap])
    const before = text(sm.snapshot())
    for (const raw of ["", "{", "null", "[]", '{"_tag":"Nope"}', '{"_tag":"Heartbeat","node":0,"at":1}']) {
      expect(decodeResponse(sm.apply(bytes(raw), 9))._tag).toBe("MalformedRequest")
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        expect(decodeResponse(sm.apply(b, 10))._tag).toBe("MalformedRequest")
      }),
      { numRuns: 100 },
    )
    expect(text(sm.snapshot())).toBe(before)
  })

  it("refuses a corrupt snapshot with a throw and keeps its state", () => {
    const sm = new MetaStateMachine()
    run(sm, [bootstrap])
    const good = text(sm.snapshot())
    expect(() => sm.restore(bytes("{"))).toThrow()
    expect(() => sm.restore(bytes(good.replace('"format":1', '"format":2')))).toThrow()
    expect(() => decodeState(bytes(good.replace('"id":1', '"id":-1')))).toThrow()
    expect(text(sm.snapshot())).toBe(good)
  })

  it("answers queries through bytes without changing the state", () => {
    const sm = new MetaStateMachine()
    run(sm, [
      bootstrap,
      { _tag: "RegisterNode", token: "t1", name: "b", labels: {}, at: 1 },
      { _tag: "RegisterNode", token: "t2", name: "c", labels: {}, at: 1 },
      { _tag: "CreateKeyspace", name: "kv", shards: 4, replicationFactor: 3, at: 2 },
    ])
    const before = text(sm.snapshot())
    const ask = (q: Parameters<typeof encodeQuery>[0]) => decodeQueryResponse(sm.query(encodeQuery(q)))
    const map = ask({ _tag: "GetShardMap", keyspace: "", knownVersion: 0 })
    if (map._tag !== "ShardMap") throw new Error(map._tag)
    expect(map.groups.map((g) => g.id)).toEqual([0, 1, 2, 3, 4])
    expect(ask({ _tag: "GetShardMap", keyspace: "", knownVersion: map.version })).toEqual({
      _tag: "NotModified",
      version: map.version,
    })
    const one = ask({ _tag: "GetShardMap", keyspace: "kv", knownVersion: map.version - 1 })
    expect(one._tag === "ShardMap" && one.groups.map((g) => g.id)).toEqual([1, 2, 3, 4])
    expect(ask({ _tag: "GetShardMap", keyspace: "nope", knownVersion: 0 })._tag).toBe("UnknownKeyspace")
    const nodes = ask({ _tag: "GetNodes" })
    if (nodes._tag !== "NodeList") throw new Error(nodes._tag)
    expect(nodes.nodes.map((n) => [n.id, n.replicas])).toEqual([
      [1, 5],
      [2, 4],
      [3, 4],
    ])
    expect(JSON.stringify(nodes)).not.toContain("t1")
    const loc = ask({ _tag: "LookupKey", keyspace: "kv", key: "user:42" })
    if (loc._tag !== "KeyLocation") throw new Error(loc._tag)
    const shard = findGroup(sm.state(), loc.group.id)!
    const ks = sm.state().keyspaces[0]!
    const range = ks.shards.find((s) => s.group === shard.id)!
    expect(loc.slot >= range.start && loc.slot < range.end).toBe(true)
    expect(ask({ _tag: "GetOperators", history: true })).toEqual({
      _tag: "OperatorList",
      inFlight: [],
      history: [],
    })
    expect(ask({ _tag: "GetSettings" })._tag).toBe("SettingsView")
    expect(decodeQueryResponse(sm.query(bytes("{}")))._tag).toBe("MalformedRequest")
    expect(text(sm.snapshot())).toBe(before)
  })

  it("bumps the shard map version on routing changes only", () => {
    const sm = new MetaStateMachine()
    const version = () => sm.state().shardMapVersion
    sm.applyCommand(bootstrap)
    const v0 = version()
    sm.applyCommand({ _tag: "RegisterNode", token: "t1", name: "", labels: {}, at: 1 })
    sm.applyCommand({ _tag: "RegisterNode", token: "t2", name: "", labels: {}, at: 1 })
    sm.applyCommand({ _tag: "Heartbeat", node: 2 as never, at: 5 })
    expect(version()).toBe(v0)
    sm.applyCommand({ _tag: "CreateKeyspace", name: "kv", shards: 2, replicationFactor: 3, at: 6 })
    const v1 = version()
    expect(v1).toBeGreaterThan(v0)
    sm.applyCommand({ _tag: "SetLeaderHint", group: 1 as never, leader: 3 as never, term: 2 })
    expect(version()).toBeGreaterThan(v1)
    const v2 = version()
    sm.applyCommand({ _tag: "SetLeaderHint", group: 1 as never, leader: 3 as never, term: 3 })
    expect(version()).toBe(v2)
  })
})
