import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { metaSubjectOf } from "../../src/client/MetaClient.js"
import { decodeCommand, decodeResponse } from "../../src/meta/MetaCommand.js"
import { decodeReply, encodeRequest, type HeartbeatRequest, refusedOn } from "../../src/meta/MetaProtocol.js"
import { answerQuery, decodeQuery, encodeQuery, encodeQueryResponse } from "../../src/meta/MetaQuery.js"
import { metaShardKind } from "../../src/meta/MetaShardKind.js"
import { MetaStateMachine } from "../../src/meta/MetaStateMachine.js"
import { heartbeatProof } from "../../src/node/HeartbeatProof.js"
import { answerHeartbeat, makeReports } from "../../src/node/MetaEndpoint.js"
import { NodeId } from "../../src/raft/Ids.js"
import { NotLeader } from "../../src/runtime/RuntimeErrors.js"
import { clusterSubjects } from "../../src/transport/Subjects.js"

const enc = new TextEncoder()
const dec = new TextDecoder()
const bytes = (v: unknown) => enc.encode(typeof v === "string" ? v : JSON.stringify(v))
const route = (v: unknown, now = 1234.7) => metaShardKind.route(bytes(v), now)
const replyOf = (r: ReturnType<typeof route>) => {
  if (r._tag !== "Reply") throw new Error(`expected an immediate reply, got ${r._tag}`)
  return decodeResponse(r.reply)
}

const cluster = () => {
  const sm = new MetaStateMachine()
  sm.applyCommand({
    _tag: "Bootstrap",
    cluster: "c",
    token: "t1",
    name: "n1",
    labels: {},
    settings: {},
    at: 100,
  })
  sm.applyCommand({ _tag: "RegisterNode", token: "t2", name: "n2", labels: {}, at: 100 })
  return sm
}

const load = (node: number) => ({ node: NodeId(node), at: 0, replicas: [] })

describe("the meta shard kind", () => {
  it("answers malformed requests at once, without touching the log", () => {
    expect(replyOf(route("{nope"))).toMatchObject({ _tag: "MalformedRequest", message: "not JSON" })
    expect(replyOf(route({ _tag: "Frobnicate" }))._tag).toBe("MalformedRequest")
    expect(replyOf(route({ _tag: "CreateKeyspace", name: "kv" }))._tag).toBe("MalformedRequest")
    expect(replyOf(route([1, 2, 3]))._tag).toBe("MalformedRequest")
  })

  it("does not accept the driver's own commands from the outside", () => {
    for (const internal of [
      { _tag: "StartOperator", spec: { _tag: "AddReplica", group: 1, node: 2, reason: "drain" }, at: 1 },
      {
        _tag: "RecordMembership",
        group: 1,
        confVersion: 9,
        voters: [1],
        learners: [],
        votersOutgoing: [],
        learnersNext: [],
      },
      { _tag: "AddLearner", group: 1, node: 2, operator: 0 },
      { _tag: "Bootstrap", cluster: "x", token: "t", name: "", labels: {}, settings: {}, at: 1 },
    ])
      expect(replyOf(route(internal))._tag, internal._tag).toBe("MalformedRequest")
  })

  it("routes queries through ReadIndex unless they ask for a stale read", () => {
    const q = route({ _tag: "GetShardMap", knownVersion: 7 })
    expect(q._tag).toBe("Query")
    if (q._tag !== "Query") return
    expect(q.stale).toBe(false)
    expect(decodeQuery(q.query)).toEqual(Either.right({ _tag: "GetShardMap", keyspace: "", knownVersion: 7 }))
    const s = route({ _tag: "GetNodes", stale: true })
    expect(s._tag === "Query" && s.stale).toBe(true)
  })

  it("stamps commands with the leader's time (whole milliseconds)", () => {
    const c = route({ _tag: "CreateKeyspace", name: "kv", shards: 4 }, 5_000.9)
    expect(c._tag).toBe("Command")
    if (c._tag !== "Command") return
    expect(decodeCommand(c.command)).toEqual(
      Either.right({ _tag: "CreateKeyspace", name: "kv", shards: 4, replicationFactor: 0, at: 5_000 }),
    )
    const r = route({ _tag: "RegisterNode", token: "abc" }, 42)
    expect(r._tag === "Command" && decodeCommand(r.command)).toEqual(
      Either.right({ _tag: "RegisterNode", token: "abc", name: "", labels: {}, at: 42 }),
    )
  })

  it("refuses heartbeats on the group subject (only the meta endpoint keeps reports)", () => {
    expect(replyOf(route({ _tag: "Heartbeat", node: 1, proof: "", load: load(1) }))._tag).toBe(
      "InvalidArgument",
    )
  })

  it("encodes runtime errors as JSON answers clients decode", () => {
    const r = decodeReply(metaShardKind.encodeError(new NotLeader({ groupId: 0, leaderHint: 2 })))
    expect(r).toEqual(Either.right(new NotLeader({ groupId: 0, leaderHint: 2 })))
  })
})

/** The requests only operators may send. */
const OPERATOR_REQUESTS = [
  "CreateKeyspace",
  "DeleteKeyspace",
  "SetReplicationFactor",
  "SetNodeState",
  "UpdateSettings",
] as const

describe("meta subject classes", () => {
  const subjects = clusterSubjects("c")
  it("send queries to the client subject, mutations to the operators', registration and heartbeats to the nodes'", () => {
    expect(metaSubjectOf(subjects, { _tag: "GetShardMap" })).toBe("flotilla.c.cli.meta")
    expect(metaSubjectOf(subjects, { _tag: "LookupKey" })).toBe("flotilla.c.cli.meta")
    for (const tag of OPERATOR_REQUESTS)
      expect(metaSubjectOf(subjects, { _tag: tag })).toBe("flotilla.c.op.meta")
    for (const tag of ["RegisterNode", "Heartbeat"] as const)
      expect(metaSubjectOf(subjects, { _tag: tag })).toBe("flotilla.c.int.meta")
  })

  it("refuse a mutation or a node request on the client subject, and take queries anywhere (finding 3)", () => {
    for (const tag of OPERATOR_REQUESTS) {
      expect(refusedOn("client", { _tag: tag })).toMatch(/operator request/)
      expect(refusedOn("internal", { _tag: tag })).toMatch(/operator request/)
      expect(refusedOn("operator", { _tag: tag })).toBeUndefined()
    }
    for (const tag of ["RegisterNode", "Heartbeat"] as const) {
      expect(refusedOn("client", { _tag: tag })).toMatch(/node-internal/)
      expect(refusedOn("operator", { _tag: tag })).toMatch(/node-internal/)
      expect(refusedOn("internal", { _tag: tag })).toBeUndefined()
    }
    for (const c of ["client", "internal", "operator"] as const)
      expect(refusedOn(c, { _tag: "GetNodes" })).toBeUndefined()
  })
})

describe("heartbeats on the meta endpoint", () => {
  /** A heartbeat with its proof made with `token` (node 2's is "t2"). */
  const beat = (over: Partial<HeartbeatRequest> = {}, token = "t2"): HeartbeatRequest => {
    const req = { _tag: "Heartbeat" as const, node: NodeId(2), load: load(2), ...over }
    return { proof: heartbeatProof(token, req.node, req.load.at, req.part), ...req }
  }
  const answer = (state: MetaStateMachine | undefined, req: HeartbeatRequest) => {
    const reports = makeReports()
    const reply = decodeReply(answerHeartbeat(state?.state(), req, reports, 999))
    return { reply: Either.getOrThrow(reply), reports: reports.entries() }
  }

  it("records the report of a node that proves its identity and answers the shard map version", () => {
    const sm = cluster()
    const { reply, reports } = answer(sm, beat())
    expect(reply).toEqual({ _tag: "HeartbeatAck", node: 2, shardMapVersion: sm.state().shardMapVersion })
    expect(reports.get(NodeId(2))).toEqual({ load: load(2), receivedAt: 999 })
  })

  it("refuses unknown nodes, wrong tokens, removed nodes and someone else's report, recording nothing", () => {
    const sm = cluster()
    const cases: Array<[HeartbeatRequest, string]> = [
      [beat({ node: NodeId(9), load: load(9) }), "UnknownNode"],
      [beat({}, "t1"), "WrongToken"],
      [beat({ proof: "00".repeat(32) }), "WrongToken"],
      [beat({ proof: heartbeatProof("t2", 2, 1234, undefined) }), "WrongToken"],
      [beat({ load: load(1) }), "InvalidArgument"],
    ]
    for (const [req, tag] of cases) {
      const { reply, reports } = answer(sm, req)
      expect(reply._tag).toBe(tag)
      expect(reports.size).toBe(0)
    }
    expect(answer(new MetaStateMachine(), beat()).reply._tag).toBe("NotBootstrapped")
    expect(answer(undefined, beat()).reply._tag).toBe("NotBootstrapped")
    sm.applyCommand({ _tag: "SetNodeState", node: NodeId(2), state: "draining", at: 200 })
    sm.applyCommand({ _tag: "SetNodeState", node: NodeId(2), state: "removed", at: 201 })
    expect(answer(sm, beat()).reply._tag).toBe("NodeRemoved")
  })

  it("takes a node's heartbeats in clock order only: a replayed one is refused", () => {
    const sm = cluster()
    const reports = makeReports()
    const at = (ms: number) => beat({ load: { ...load(2), at: ms } })
    const tagOf = (req: HeartbeatRequest) =>
      Either.getOrThrow(decodeReply(answerHeartbeat(sm.state(), req, reports, 999)))._tag
    expect(tagOf(at(10))).toBe("HeartbeatAck")
    expect(tagOf(at(10))).toBe("InvalidArgument")
    expect(tagOf(at(9))).toBe("InvalidArgument")
    expect(tagOf(at(11))).toBe("HeartbeatAck")
    reports.reset(1000)
    expect(tagOf(at(11))).toBe("HeartbeatAck")
  })

  it("never carries the node's token", () => {
    const bytes = new TextDecoder().decode(encodeRequest(beat({}, "secret-token-of-node-2")))
    expect(bytes).not.toContain("secret-token-of-node-2")
  })

  it("decodes no answer it does not know", () => {
    expect(Either.isLeft(decodeReply(enc.encode('{"_tag":"Surprise"}')))).toBe(true)
    expect(Either.isLeft(decodeReply(enc.encode("not json")))).toBe(true)
  })
})

describe("keyspace kinds", () => {
  it("default to the KV store, take a valid kind name, and never the metadata group's own", () => {
    const sm = cluster()
    sm.applyCommand({ _tag: "RegisterNode", token: "t3", name: "n3", labels: {}, at: 100 })
    expect(
      sm.applyCommand({ _tag: "CreateKeyspace", name: "a", shards: 1, replicationFactor: 3, at: 100 })._tag,
    ).toBe("KeyspaceCreated")
    expect(sm.state().keyspaces[0]!.kind).toBe("kv")
    const v = sm.state().shardMapVersion
    for (const kind of ["meta", "", "1abc", "x y"]) {
      const r = sm.applyCommand({
        _tag: "CreateKeyspace",
        name: "b",
        shards: 1,
        replicationFactor: 3,
        kind,
        at: 100,
      })
      expect(r._tag, kind).toBe("InvalidArgument")
    }
    expect(sm.state().shardMapVersion).toBe(v)
    for (const n of [1, 2, 3])
      sm.applyCommand({
        _tag: "RegisterNode",
        token: `t${n}`,
        name: `n${n}`,
        labels: {},
        kinds: ["kv", "Counter"],
        at: 100,
      })
    expect(
      sm.applyCommand({
        _tag: "CreateKeyspace",
        name: "c",
        shards: 1,
        replicationFactor: 3,
        kind: "Counter",
        at: 100,
      })._tag,
    ).toBe("KeyspaceCreated")
    expect(sm.state().keyspaces.find((k) => k.name === "c")!.kind).toBe("Counter")
  })

  it("decode as the KV store from snapshots written before kinds existed", () => {
    const sm = cluster()
    sm.applyCommand({ _tag: "RegisterNode", token: "t3", name: "n3", labels: {}, at: 100 })
    sm.applyCommand({ _tag: "CreateKeyspace", name: "a", shards: 2, replicationFactor: 3, at: 100 })
    const old = JSON.parse(dec.decode(sm.snapshot()))
    delete old.keyspaces[0].kind
    const restored = new MetaStateMachine()
    restored.restore(enc.encode(JSON.stringify(old)))
    expect(restored.state().keyspaces[0]!.kind).toBe("kv")
  })
})

describe("shard map answers", () => {
  it("come from a cache only while the map is unchanged, leader terms included", () => {
    const sm = cluster()
    sm.applyCommand({ _tag: "RegisterNode", token: "t3", name: "n3", labels: {}, at: 100 })
    sm.applyCommand({ _tag: "CreateKeyspace", name: "kv", shards: 2, replicationFactor: 3, at: 100 })
    const ask = (keyspace = "", knownVersion = 0) =>
      dec.decode(sm.query(encodeQuery({ _tag: "GetShardMap", keyspace, knownVersion })))
    const fresh = (keyspace = "", knownVersion = 0) =>
      dec.decode(
        encodeQueryResponse(answerQuery(sm.state(), { _tag: "GetShardMap", keyspace, knownVersion })),
      )
    const group = sm.state().groups[1]!
    const steps: Array<() => void> = [
      () => sm.applyCommand({ _tag: "Heartbeat", node: NodeId(2), at: 150 }),
      () => sm.applyCommand({ _tag: "SetLeaderHint", group: group.id, leader: group.leaderHint, term: 4 }),
      () => sm.applyCommand({ _tag: "SetLeaderHint", group: group.id, leader: group.leaderHint, term: 5 }),
      () => sm.applyCommand({ _tag: "UpdateSettings", settings: { replicationFactor: 3 } }),
    ]
    for (const step of steps) {
      expect(ask()).toBe(fresh())
      expect(ask("kv")).toBe(fresh("kv"))
      expect(ask("", sm.state().shardMapVersion)).toBe(fresh("", sm.state().shardMapVersion))
      expect(ask()).toBe(fresh())
      step()
    }
    expect(JSON.parse(ask()).groups[1].leaderTerm).toBe(5)
  })
})
