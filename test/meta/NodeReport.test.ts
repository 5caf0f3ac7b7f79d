/**
 * Load reports: split by the node when too large for one bus message, reassembled by the
 * leader; heartbeats decoded by a fast path that must agree with the Schema on every input.
 */

import { Either, Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { decodeJsonValue } from "../../src/meta/JsonCodec.js"
import {
  decodeReply,
  decodeRequest,
  encodeRequest,
  type HeartbeatRequest,
  MetaRequest,
} from "../../src/meta/MetaProtocol.js"
import { type NodeLoad, type ReplicaReport, ReportAssembly, splitLoad } from "../../src/meta/NodeReport.js"
import { heartbeatProof } from "../../src/node/HeartbeatProof.js"
import { answerHeartbeat, makeReports } from "../../src/node/MetaEndpoint.js"
import { GroupId, NodeId } from "../../src/raft/Ids.js"
import { ReplicaId } from "../../src/raft/Types.js"
import { cluster } from "./Helpers.js"

const replica = (group: number, leader: boolean): ReplicaReport => ({
  group: GroupId(group),
  replica: ReplicaId(2),
  role: "voter",
  leader,
  term: 7,
  applied: 123_456,
  sizeBytes: 1_048_576,
  ...(leader
    ? {
        membership: {
          confVersion: 42,
          voters: [ReplicaId(1), ReplicaId(2), ReplicaId(3)],
          learners: [],
          votersOutgoing: [],
          learnersNext: [],
          autoLeave: false,
        },
      }
    : {}),
})

const loadOf = (n: number, at = 1_700_000_000_000): NodeLoad => ({
  node: NodeId(2),
  at,
  replicas: Array.from({ length: n }, (_, i) => replica(i + 1, i % 3 === 0)),
})

const json = (v: unknown) => JSON.stringify(v).length

describe("splitLoad", () => {
  it("keeps every replica once, in order, each part within the budget", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 50, max: 20_000 }), (n, maxBytes) => {
        const load = loadOf(n)
        const parts = splitLoad(load, maxBytes)
        expect(parts.flatMap((p) => p.replicas)).toEqual(load.replicas)
        for (const p of parts) {
          expect(p.node).toBe(load.node)
          expect(p.at).toBe(load.at)
          // A part over the budget holds one replica that alone is over it.
          if (json(p.replicas) > maxBytes) expect(p.replicas.length).toBe(1)
        }
        if (json(load.replicas) <= maxBytes) expect(parts).toEqual([load])
        else if (load.replicas.length > 1) expect(parts.length).toBeGreaterThan(1)
      }),
    )
  })
})

describe("ReportAssembly", () => {
  it("gives back the whole report once every part of one `at` arrived, in any order", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 100, max: 3_000 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (n, maxBytes, seed) => {
          const load = loadOf(n)
          const parts = splitLoad(load, maxBytes)
          const order = fc.sample(fc.shuffledSubarray([...parts.keys()], { minLength: parts.length }), {
            seed,
            numRuns: 1,
          })[0]!
          const a = new ReportAssembly()
          order.forEach((index, k) => {
            const whole = a.add(parts[index]!, { index, count: parts.length })
            if (k < order.length - 1) expect(whole).toBeUndefined()
            else expect(whole).toEqual(load)
          })
        },
      ),
    )
  })

  it("drops an unfinished report for a newer one and ignores parts of older ones", () => {
    const a = new ReportAssembly()
    const old = splitLoad(loadOf(30, 1_000), 1_000)
    const fresh = splitLoad(loadOf(20, 2_000), 1_000)
    expect(old.length).toBeGreaterThan(2)
    expect(fresh.length).toBeGreaterThan(2)
    expect(a.add(old[0]!, { index: 0, count: old.length })).toBeUndefined()
    fresh.slice(0, -1).forEach((p, index) => {
      expect(a.add(p, { index, count: fresh.length })).toBeUndefined()
    })
    // The rest of the old report comes late: ignored, whatever it would have completed.
    old.slice(1).forEach((p, i) => {
      expect(a.add(p, { index: i + 1, count: old.length })).toBeUndefined()
    })
    expect(a.add(fresh.at(-1)!, { index: fresh.length - 1, count: fresh.length })).toEqual(loadOf(20, 2_000))
    // Repeated parts count once; clear forgets.
    expect(a.add(old[0]!, { index: 0, count: old.length })).toBeUndefined()
    a.clear()
    expect(a.add(fresh[0]!, { index: 0, count: fresh.length })).toBeUndefined()
  })
})

describe("a report of 20,000 replicas", () => {
  it("crosses the meta subject in parts under 1 MiB and is recorded whole, once, on the last part", () => {
    const sm = cluster(2)
    const load = loadOf(20_000)
    expect(
      encodeRequest({
        _tag: "Heartbeat",
        node: NodeId(2),
        proof: heartbeatProof("t2", 2, load.at, undefined),
        load,
      }).length,
    ).toBeGreaterThan(1024 * 1024)
    const parts = splitLoad(load, 512 * 1024)
    const reports = makeReports()
    parts.forEach((p, index) => {
      const bytes = encodeRequest({
        _tag: "Heartbeat",
        node: NodeId(2),
        proof: heartbeatProof("t2", 2, p.at, { index, count: parts.length }),
        load: p,
        part: { index, count: parts.length },
      })
      expect(bytes.length).toBeLessThan(1024 * 1024)
      const request = Either.getOrThrow(decodeRequest(bytes))
      expect(request._tag).toBe("Heartbeat")
      const reply = decodeReply(answerHeartbeat(sm.state(), request as HeartbeatRequest, reports, 50 + index))
      expect(Either.getOrThrow(reply)._tag).toBe("HeartbeatAck")
      expect(reports.entries().has(NodeId(2))).toBe(index === parts.length - 1)
    })
    expect(reports.entries().get(NodeId(2))).toEqual({ load, receivedAt: 50 + parts.length - 1 })
  })

  it("refuses a part numbered outside its count", () => {
    const bad = JSON.stringify({
      _tag: "Heartbeat",
      node: 2,
      proof: heartbeatProof("t2", 2, 0, { index: 3, count: 3 }),
      load: { node: 2, at: 0, replicas: [] },
      part: { index: 3, count: 3 },
    })
    expect(Either.isLeft(decodeRequest(new TextEncoder().encode(bad)))).toBe(true)
  })
})

describe("the heartbeat fast path", () => {
  const throughSchema = decodeJsonValue(MetaRequest)
  // Valid heartbeats, then one field replaced by a near miss or any JSON value.
  const count = fc.nat()
  const id = fc.integer({ min: 1, max: 65_535 })
  const replicaIds = fc.array(id, { maxLength: 4 })
  const membership = fc.record({
    confVersion: count,
    voters: replicaIds,
    learners: replicaIds,
    votersOutgoing: replicaIds,
    learnersNext: replicaIds,
    autoLeave: fc.boolean(),
  })
  const replica = fc.record(
    {
      group: fc.nat({ max: 100_000 }),
      replica: id,
      role: fc.constantFrom("voter", "learner"),
      leader: fc.boolean(),
      term: count,
      applied: count,
      sizeBytes: count,
      membership,
      extra: fc.string(),
    },
    { requiredKeys: ["group", "replica", "role", "leader", "term", "applied", "sizeBytes"] },
  )
  const heartbeat = fc.record(
    {
      _tag: fc.constant("Heartbeat"),
      node: id,
      proof: fc.string(),
      load: fc.record({ node: id, at: count, replicas: fc.array(replica, { minLength: 1, maxLength: 4 }) }),
      part: fc
        .integer({ min: 1, max: 1024 })
        .chain((n) => fc.record({ index: fc.nat({ max: n - 1 }), count: fc.constant(n) })),
    },
    { requiredKeys: ["_tag", "node", "proof", "load"] },
  )
  const nearMiss = fc.oneof(
    fc.constantFrom<unknown>(-1, 0, 1.5, 2 ** 53, 65_536, 1025, "1", "voter", null, true, [], {}, [0], [1.5]),
    fc.jsonValue(),
  )
  type Path = ReadonlyArray<string | number>
  const paths: ReadonlyArray<Path> = [
    ["node"],
    ["proof"],
    ["load"],
    ["load", "node"],
    ["load", "at"],
    ["load", "replicas"],
    ...["group", "replica", "role", "leader", "term", "applied", "sizeBytes", "membership"].map(
      (f): Path => ["load", "replicas", 0, f],
    ),
    ...["confVersion", "voters", "learners", "votersOutgoing", "learnersNext", "autoLeave"].map(
      (f): Path => ["load", "replicas", 0, "membership", f],
    ),
    ["part"],
    ["part", "index"],
    ["part", "count"],
  ]
  const setAt = (root: unknown, path: Path, value: unknown): unknown => {
    const copy = JSON.parse(JSON.stringify(root)) as Record<string | number, unknown>
    let o: Record<string | number, unknown> | undefined = copy
    for (const key of path.slice(0, -1)) {
      const next: unknown = o?.[key]
      o = typeof next === "object" && next !== null ? (next as Record<string | number, unknown>) : undefined
    }
    if (o !== undefined) o[path.at(-1)!] = value
    return copy
  }
  const mutated = fc
    .tuple(heartbeat, nearMiss, fc.constantFrom(...paths))
    .map(([h, junk, path]) => setAt(h, path, junk))

  it("accepts exactly what the Schema accepts, and decodes the same value", () => {
    fc.assert(
      fc.property(fc.oneof({ arbitrary: heartbeat, weight: 1 }, { arbitrary: mutated, weight: 4 }), (raw) => {
        const bytes = new TextEncoder().encode(JSON.stringify(raw))
        const fast = decodeRequest(bytes)
        const slow = throughSchema(JSON.parse(JSON.stringify(raw)))
        expect(Either.isRight(fast)).toBe(Either.isRight(slow))
        if (Either.isRight(fast) && Either.isRight(slow)) expect(fast.right).toEqual(slow.right)
        else expect(fast).toEqual(slow)
      }),
      { numRuns: 3_000 },
    )
  })

  it("sends heartbeats as the Schema would encode them", () => {
    const h: HeartbeatRequest = {
      _tag: "Heartbeat",
      node: NodeId(2),
      proof: heartbeatProof("t2", 2, 0, { index: 1, count: 3 }),
      load: loadOf(7),
      part: { index: 1, count: 3 },
    }
    expect(JSON.parse(new TextDecoder().decode(encodeRequest(h)))).toEqual(
      JSON.parse(JSON.stringify(Schema.encodeSync(MetaRequest)(h))),
    )
    expect(Either.getOrThrow(decodeRequest(encodeRequest(h)))).toEqual(h)
  })
})
