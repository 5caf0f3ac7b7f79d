import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { isLegalTransition } from "../../src/meta/ApplyNodes.js"
import { findNode, type NodeState } from "../../src/meta/ClusterState.js"
import type { MetaCommand } from "../../src/meta/MetaCommand.js"
import { MetaStateMachine } from "../../src/meta/MetaStateMachine.js"
import { cluster, must, n } from "./Helpers.js"

describe("bootstrap", () => {
  it("makes the proposer node 1 and the metadata group's only voter", () => {
    const sm = new MetaStateMachine()
    expect(sm.applyCommand({ _tag: "Heartbeat", node: n(1), at: 0 })._tag).toBe("NotBootstrapped")
    const r = sm.applyCommand({
      _tag: "Bootstrap",
      cluster: "prod-1",
      token: "tok",
      name: "a",
      labels: { zone: "z1" },
      settings: { metaTargetSize: 5 },
      at: 7,
    })
    expect(r).toEqual({ _tag: "Bootstrapped", node: 1, replica: 1 })
    const s = sm.state()
    expect(s.cluster).toBe("prod-1")
    expect(s.settings.metaTargetSize).toBe(5)
    expect(s.groups).toEqual([
      {
        id: 0,
        keyspace: "",
        replicas: [{ id: 1, role: "voter" }],
        joint: false,
        confVersion: 0,
        leaderHint: 1,
        leaderTerm: 0,
        nextGeneration: 1,
      },
    ])
    const again = sm.applyCommand({
      _tag: "Bootstrap",
      cluster: "x",
      token: "t",
      name: "",
      labels: {},
      settings: {},
      at: 8,
    })
    expect(again._tag).toBe("AlreadyBootstrapped")
  })

  it("refuses bad names, tokens, labels and settings", () => {
    const boot = (over: Partial<Extract<MetaCommand, { _tag: "Bootstrap" }>>) =>
      new MetaStateMachine().applyCommand({
        _tag: "Bootstrap",
        cluster: "c",
        token: "t",
        name: "",
        labels: {},
        settings: {},
        at: 0,
        ...over,
      })._tag
    expect(boot({ cluster: "a.b" })).toBe("InvalidArgument")
    expect(boot({ cluster: "" })).toBe("InvalidArgument")
    expect(boot({ token: "" })).toBe("InvalidArgument")
    expect(boot({ labels: { "": "x" } })).toBe("InvalidArgument")
    expect(boot({ settings: { replicationFactor: 0 } })).toBe("InvalidArgument")
    expect(boot({ settings: { heartbeatTimeoutMs: 5000, downTimeoutMs: 1000 } })).toBe("InvalidArgument")
    expect(boot({ settings: { maxOperatorsPerCluster: 0 } })).toBe("InvalidArgument")
    expect(boot({})).toBe("Bootstrapped")
  })
})

describe("registration", () => {
  it("allocates ids in order and gives a known token its id back", () => {
    const sm = cluster(1)
    const reg = (token: string, at: number) =>
      sm.applyCommand({ _tag: "RegisterNode", token, name: token, labels: { zone: token }, at })
    expect(reg("a", 1)).toEqual({ _tag: "NodeRegistered", node: 2, rejoined: false })
    expect(reg("b", 2)).toEqual({ _tag: "NodeRegistered", node: 3, rejoined: false })
    expect(reg("a", 3)).toEqual({ _tag: "NodeRegistered", node: 2, rejoined: true })
    expect(reg("t1", 4)).toEqual({ _tag: "NodeRegistered", node: 1, rejoined: true })
    expect(findNode(sm.state(), 2)!.lastHeartbeat).toBe(3)
    expect(sm.state().nodes.length).toBe(3)
  })

  it("never lets a removed node's token back in, and never reuses its id", () => {
    const sm = cluster(3)
    must(sm, { _tag: "SetNodeState", node: n(3), state: "draining", at: 1 })
    must(sm, { _tag: "SetNodeState", node: n(3), state: "removed", at: 2 })
    expect(sm.applyCommand({ _tag: "RegisterNode", token: "t3", name: "", labels: {}, at: 3 })).toMatchObject(
      {
        _tag: "NodeRemoved",
        node: 3,
      },
    )
    expect(sm.applyCommand({ _tag: "Heartbeat", node: n(3), at: 3 })._tag).toBe("NodeRemoved")
    expect(sm.applyCommand({ _tag: "RegisterNode", token: "fresh", name: "", labels: {}, at: 3 })).toEqual({
      _tag: "NodeRegistered",
      node: 4,
      rejoined: false,
    })
  })

  it("runs out of node ids at 65535 with a typed refusal", () => {
    const sm = cluster(1)
    const s = sm.state()
    const full = new MetaStateMachine({ ...s, nextNodeId: 65536 })
    expect(full.applyCommand({ _tag: "RegisterNode", token: "x", name: "", labels: {}, at: 1 })._tag).toBe(
      "NodeIdsExhausted",
    )
  })
})

describe("heartbeats", () => {
  it("never move time back, and revive a down node only when newer than the change", () => {
    const sm = cluster(2)
    must(sm, { _tag: "Heartbeat", node: n(2), at: 100 })
    must(sm, { _tag: "Heartbeat", node: n(2), at: 50 })
    expect(findNode(sm.state(), 2)!.lastHeartbeat).toBe(100)
    must(sm, { _tag: "SetNodeState", node: n(2), state: "down", at: 200 })
    must(sm, { _tag: "Heartbeat", node: n(2), at: 150 })
    expect(findNode(sm.state(), 2)!.state).toBe("down")
    must(sm, { _tag: "Heartbeat", node: n(2), at: 250 })
    expect(findNode(sm.state(), 2)).toMatchObject({ state: "up", stateSince: 250, lastHeartbeat: 250 })
    expect(sm.applyCommand({ _tag: "Heartbeat", node: n(9), at: 1 })._tag).toBe("UnknownNode")
  })
})

describe("node life cycle", () => {
  const STATES: NodeState[] = ["up", "down", "draining", "removed"]
  const LEGAL = new Set([
    "up>down",
    "up>draining",
    "down>up",
    "down>draining",
    "down>removed",
    "draining>up",
    "draining>removed",
  ])

  it("allows exactly the documented transitions", () => {
    for (const from of STATES) {
      for (const to of STATES) {
        if (from !== to) expect(isLegalTransition(from, to), `${from}>${to}`).toBe(LEGAL.has(`${from}>${to}`))
      }
    }
  })

  it("removes only empty nodes", () => {
    const sm = cluster(3)
    must(sm, { _tag: "SetNodeState", node: n(1), state: "draining", at: 1 })
    expect(sm.applyCommand({ _tag: "SetNodeState", node: n(1), state: "removed", at: 2 })).toMatchObject({
      _tag: "NodeNotEmpty",
      node: 1,
      replicas: 1,
    })
    expect(sm.applyCommand({ _tag: "SetNodeState", node: n(2), state: "removed", at: 2 })._tag).toBe(
      "IllegalTransition",
    )
  })

  /** A naive model of registration and the life cycle, checked against the state machine. */
  it("matches a naive model over random sequences", () => {
    const step = fc.oneof(
      fc.record({ k: fc.constant("reg" as const), token: fc.constantFrom("a", "b", "c", "d") }),
      fc.record({ k: fc.constant("beat" as const), node: fc.integer({ min: 1, max: 5 }) }),
      fc.record({
        k: fc.constant("state" as const),
        node: fc.integer({ min: 1, max: 5 }),
        to: fc.constantFrom(...STATES),
      }),
    )
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const sm = new MetaStateMachine()
        must(sm, {
          _tag: "Bootstrap",
          cluster: "c",
          token: "boot",
          name: "",
          labels: {},
          settings: {},
          at: 0,
        })
        // The model: tokens to ids, ids to states; node 1 hosts the metadata group, others nothing.
        const ids = new Map<string, number>([["boot", 1]])
        const states = new Map<number, NodeState>([[1, "up"]])
        let next = 2
        let at = 0
        for (const s of steps) {
          at += 10
          if (s.k === "reg") {
            const r = sm.applyCommand({ _tag: "RegisterNode", token: s.token, name: "", labels: {}, at })
            const known = ids.get(s.token)
            if (known !== undefined && states.get(known) === "removed") expect(r._tag).toBe("NodeRemoved")
            else if (known !== undefined) {
              expect(r).toEqual({ _tag: "NodeRegistered", node: known, rejoined: true })
              if (states.get(known) === "down") states.set(known, "up")
            } else {
              expect(r).toEqual({ _tag: "NodeRegistered", node: next, rejoined: false })
              ids.set(s.token, next)
              states.set(next++, "up")
            }
          } else if (s.k === "beat") {
            const r = sm.applyCommand({ _tag: "Heartbeat", node: n(s.node), at })
            const st = states.get(s.node)
            expect(r._tag).toBe(st === undefined ? "UnknownNode" : st === "removed" ? "NodeRemoved" : "Done")
            if (st === "down") states.set(s.node, "up")
          } else {
            const r = sm.applyCommand({ _tag: "SetNodeState", node: n(s.node), state: s.to, at })
            const st = states.get(s.node)
            if (st === undefined) expect(r._tag).toBe("UnknownNode")
            else if (st === s.to) expect(r._tag).toBe("Done")
            else if (!LEGAL.has(`${st}>${s.to}`)) expect(r._tag).toBe("IllegalTransition")
            else if (s.to === "removed" && s.node === 1) expect(r._tag).toBe("NodeNotEmpty")
            else {
              expect(r._tag).toBe("Done")
              states.set(s.node, s.to)
            }
          }
          for (const [id, st] of states) expect(findNode(sm.state(), id)!.state).toBe(st)
        }
      }),
      { numRuns: 100 },
    )
  })
})

describe("settings", () => {
  it("patch some fields, validate the result, and move the shard map version", () => {
    const sm = cluster(1)
    const v = sm.state().shardMapVersion
    must(sm, { _tag: "UpdateSettings", settings: { replicationFactor: 5, maxOperatorsPerNode: 2 } })
    expect(sm.state().settings).toMatchObject({
      replicationFactor: 5,
      maxOperatorsPerNode: 2,
      metaTargetSize: 3,
    })
    expect(sm.state().shardMapVersion).toBe(v + 1)
    expect(sm.applyCommand({ _tag: "UpdateSettings", settings: { replicationFactor: 8 } })._tag).toBe(
      "InvalidArgument",
    )
    expect(sm.state().settings.replicationFactor).toBe(5)
  })
})
