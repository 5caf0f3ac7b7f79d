/**
 * The Transport compliance suite: every implementation runs it (abstract-level's
 * `suite({ test, factory })` pattern). A harness builds transports for a set of nodes and
 * gives the test an independent view of the bus: raw injection into a node's subjects and a
 * count of publishes per subject, so "one publish per send" is observed, not self-reported.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, type Scope, Stream } from "effect"
import fc from "fast-check"
import type { GroupId, NodeId } from "../../src/raft/Ids.js"
import { type ClusterSecret, frameAuth, parseClusterSecret } from "../../src/transport/ClusterSecret.js"
import { clusterIdOf, type Envelope, encodeFrame } from "../../src/transport/Frame.js"
import type { TransportService } from "../../src/transport/Transport.js"
import { message } from "./arbitraries.js"
import { app, captureLogs, eventually, hb, snap } from "./helpers.js"

/** Options every harness honours. */
export interface HarnessOptions {
  readonly inboundCapacity?: number
  readonly maxPayload?: number
  readonly clusterSecret?: ClusterSecret
}

/** What a harness builds for one test. */
export interface Cluster {
  /** The cluster name the transports use. */
  readonly cluster: string
  readonly transport: (node: NodeId) => TransportService
  /** Publishes raw bytes to a node's raft or snap subject, past every transport. */
  readonly inject: (to: NodeId, kind: "raft" | "snap", payload: Uint8Array) => Effect.Effect<void>
  /** Publishes observed so far on a node's raft or snap subject. */
  readonly published: (to: NodeId, kind: "raft" | "snap") => Effect.Effect<number>
}

/** Builds transports for `nodes` in the test's scope. */
export interface TransportHarness {
  readonly make: (
    nodes: ReadonlyArray<NodeId>,
    options?: HarnessOptions,
  ) => Effect.Effect<Cluster, unknown, Scope.Scope>
}

const N1 = 1 as NodeId
const N2 = 2 as NodeId
const N3 = 3 as NodeId

const take = (t: TransportService) =>
  t.take.pipe(
    Effect.timeoutFail({
      duration: "10 seconds",
      onTimeout: () => new Error(`node ${t.nodeId}: no inbound batch`),
    }),
  )

/** Waits until `count` publishes to the subject were observed, then checks no more come. */
const expectPublishes = (c: Cluster, to: NodeId, kind: "raft" | "snap", count: number) =>
  Effect.gen(function* () {
    yield* eventually(c.published(to, kind), (n) => n >= count, `${count} publish(es) on ${kind}.${to}`)
    yield* Effect.sleep("150 millis")
    expect(yield* c.published(to, kind)).toBe(count)
  })

/** A live scoped test whose log lines are captured (and kept off the console). */
const test = (name: string, body: (logs: string[]) => Effect.Effect<void, unknown, Scope.Scope>) =>
  it.scopedLive(name, () => {
    const logs: string[] = []
    return body(logs).pipe(captureLogs(logs))
  })

/** Registers the compliance tests for one implementation. */
export const transportCompliance = (name: string, harness: TransportHarness): void => {
  describe(`Transport compliance: ${name}`, () => {
    test("delivers between nodes, tagging each batch with its sender", () =>
      Effect.gen(function* () {
        const c = yield* harness.make([N1, N2, N3])
        for (const from of [N1, N2, N3])
          for (const to of [N1, N2, N3])
            yield* c.transport(from).send(to, [hb(from, to, 10 * from + to, from)])
        for (const to of [N1, N2, N3]) {
          const got: Array<[number, number]> = []
          for (let i = 0; i < 3; i++) {
            const batch = yield* take(c.transport(to))
            expect(batch.envelopes).toEqual([hb(batch.from, to, 10 * batch.from + to, batch.from)])
            got.push([batch.from, batch.envelopes[0]!.groupId])
          }
          expect(got.map(([from]) => from).sort()).toEqual([1, 2, 3])
        }
      }))

    test("round-trips every message type exactly, in order, in ONE publish per send", () =>
      Effect.gen(function* () {
        const c = yield* harness.make([N1, N2])
        const messages = fc.sample(message(N1, N2), { numRuns: 300, seed: 42 })
        const envelopes: Envelope[] = messages
          .filter((m) => m.type !== 7)
          .map((m, i) => ({ groupId: (i * 7919) as GroupId, message: m }))
        expect(new Set(envelopes.map((e) => e.message.type)).size).toBeGreaterThanOrEqual(12)
        yield* c.transport(N1).send(N2, envelopes)
        const batch = yield* take(c.transport(N2))
        expect(batch.from).toBe(N1)
        expect(batch.envelopes).toEqual(envelopes)
        yield* expectPublishes(c, N2, "raft", 1)
        const stats = yield* c.transport(N1).stats
        expect(stats.framesSent).toBe(1)
        expect(stats.envelopesSent).toBe(envelopes.length)
      }))

    test("coalesces the heartbeats of 10,000 groups with other traffic into one publish", () =>
      Effect.gen(function* () {
        const c = yield* harness.make([N1, N2])
        const envelopes = [
          ...Array.from({ length: 10_000 }, (_, g) => hb(N1, N2, g, 1_000 + g, 4)),
          ...Array.from({ length: 64 }, (_, g) => app(N1, N2, g, 128)),
        ]
        yield* c.transport(N1).send(N2, envelopes)
        const batch = yield* take(c.transport(N2))
        expect(batch.envelopes).toEqual(envelopes)
        yield* expectPublishes(c, N2, "raft", 1)
        const stats = yield* c.transport(N1).stats
        expect(stats.bytesSent).toBeLessThan(10_000 * 8 + 64 * 160)
      }))

    test("splits a send only when the frame would exceed the payload limit", () =>
      Effect.gen(function* () {
        const c = yield* harness.make([N1, N2], { maxPayload: 8_192 })
        const envelopes = Array.from({ length: 6_000 }, (_, g) => hb(N1, N2, g, g))
        yield* c.transport(N1).send(N2, envelopes)
        const stats = yield* c.transport(N1).stats
        expect(stats.framesSent).toBeGreaterThan(1)
        expect(stats.bytesSent / stats.framesSent).toBeLessThanOrEqual(8_192)
        const got: Envelope[] = []
        while (got.length < envelopes.length) got.push(...(yield* take(c.transport(N2))).envelopes)
        expect(got).toEqual(envelopes)
        yield* expectPublishes(c, N2, "raft", stats.framesSent)
      }))

    test("sends each snapshot chunk alone on the snap subject", () =>
      Effect.gen(function* () {
        const c = yield* harness.make([N1, N2])
        const chunks = [snap(N1, N2, 5, 0, 20_000), snap(N1, N2, 5, 20_000, 20_000)]
        const others = [hb(N1, N2, 1, 1), app(N1, N2, 2, 10)]
        yield* c.transport(N1).send(N2, [others[0]!, chunks[0]!, others[1]!, chunks[1]!])
        const batches = [
          yield* take(c.transport(N2)),
          yield* take(c.transport(N2)),
          yield* take(c.transport(N2)),
        ]
        const snaps = batches.filter((b) => b.envelopes[0]!.message.type === 7)
        expect(snaps.map((b) => b.envelopes)).toEqual([[chunks[0]], [chunks[1]]])
        expect(batches.filter((b) => b.envelopes[0]!.message.type !== 7).map((b) => b.envelopes)).toEqual([
          others,
        ])
        yield* expectPublishes(c, N2, "snap", 2)
        yield* expectPublishes(c, N2, "raft", 1)
      }))

    test("does not send a message that fits in no frame, and counts it", () =>
      Effect.gen(function* () {
        const c = yield* harness.make([N1, N2], { maxPayload: 8_192 })
        yield* c
          .transport(N1)
          .send(N2, [app(N1, N2, 1, 20_000), snap(N1, N2, 1, 0, 20_000), hb(N1, N2, 2, 3)])
        expect((yield* take(c.transport(N2))).envelopes).toEqual([hb(N1, N2, 2, 3)])
        const stats = yield* c.transport(N1).stats
        expect(stats.unsent.oversized).toBe(2)
        yield* expectPublishes(c, N2, "snap", 0)
      }))

    test("with a cluster secret, delivers sealed frames and drops unsealed or forged ones unread", (lines) =>
      Effect.gen(function* () {
        const secret = parseClusterSecret("ab".repeat(32)) as ClusterSecret
        const other = parseClusterSecret("cd".repeat(32)) as ClusterSecret
        const c = yield* harness.make([N1, N2], { clusterSecret: secret })
        const own = { clusterId: clusterIdOf(c.cluster), from: N1, to: N2 }
        // A forged append as an attacker on the bus would send it: well-formed, right header.
        const forged = encodeFrame(own, [app(N1, N2, 5, 100)])
        const sealedOther = frameAuth(other).seal(forged)
        const flipped = frameAuth(secret).seal(forged)
        flipped[10] = flipped[10]! ^ 1
        for (const payload of [forged, sealedOther, flipped, new Uint8Array(3)])
          yield* c.inject(N2, "raft", payload)
        yield* c.inject(N2, "raft", frameAuth(secret).seal(encodeFrame(own, [hb(N1, N2, 7, 7)])))
        yield* c.transport(N1).send(N2, [hb(N1, N2, 8, 8)])
        expect((yield* take(c.transport(N2))).envelopes).toEqual([hb(N1, N2, 7, 7)])
        expect((yield* take(c.transport(N2))).envelopes).toEqual([hb(N1, N2, 8, 8)])
        const stats = yield* eventually(c.transport(N2).stats, (s) => s.framesReceived >= 6, "6 frames")
        expect(stats.dropped.unauthenticated).toBe(4)
        expect(stats.dropped.malformed + stats.dropped.truncated).toBe(0)
        expect(stats.envelopesReceived).toBe(2)
        yield* eventually(
          Effect.sync(() => lines.filter((l) => l.startsWith("transport: dropped unauthenticated")).length),
          (n) => n === 4,
          "4 log lines",
        )
      }))

    test("counts, logs and drops garbage, truncated, foreign and oversized frames", (lines) =>
      Effect.gen(function* () {
        const c = yield* harness.make([N1, N2], { maxPayload: 8_192 })
        const own = { clusterId: clusterIdOf(c.cluster), from: N1, to: N2 }
        const good = encodeFrame(own, [hb(N1, N2, 1, 1)])
        const bad: Array<["raft" | "snap", Uint8Array]> = [
          ["raft", new TextEncoder().encode("PUB nonsense\r\n")],
          ["raft", new Uint8Array([0x46, 0x4c, 0x09])],
          ["snap", good.subarray(0, good.length - 1)],
          ["raft", encodeFrame({ ...own, clusterId: clusterIdOf(`${c.cluster}-other`) }, [hb(N1, N2, 1, 1)])],
          ["raft", encodeFrame({ ...own, to: N3 }, [hb(N1, N3, 1, 1)])],
          ["raft", encodeFrame(own, [app(N1, N2, 1, 9_000)])],
          ["snap", good],
        ]
        for (const [kind, payload] of bad) yield* c.inject(N2, kind, payload)
        yield* c.inject(N2, "raft", encodeFrame(own, [hb(N1, N2, 99, 99)]))
        const batch = yield* take(c.transport(N2))
        expect(batch.envelopes).toEqual([hb(N1, N2, 99, 99)])
        const stats = yield* eventually(c.transport(N2).stats, (s) => s.framesReceived >= 8, "8 frames")
        expect(stats.dropped).toEqual({
          malformed: 2,
          truncated: 1,
          foreign: 2,
          oversized: 1,
          overflow: 0,
          misrouted: 1,
          unauthenticated: 0,
        })
        expect(stats.inboundBatches).toBe(0)
        expect(yield* c.transport(N2).takeAll).toEqual([])
        yield* eventually(
          Effect.sync(() => lines.filter((l) => l.startsWith("transport: dropped")).length),
          (n) => n === 7,
          "7 log lines",
        )
        const raftSubject = new RegExp(`\\.${c.cluster}\\.int\\.raft\\.2 `)
        expect(lines.filter((l) => l.includes("dropped malformed") && raftSubject.test(l))).toHaveLength(2)
        expect(
          lines.filter((l) => l.includes("dropped truncated") && l.includes(`.${c.cluster}.int.snap.2`)),
        ).toHaveLength(1)
        expect(lines.filter((l) => l.includes("dropped foreign"))).toHaveLength(2)
        expect(lines.filter((l) => l.includes("dropped oversized"))).toHaveLength(1)
        expect(lines.filter((l) => l.includes("dropped misrouted"))).toHaveLength(1)
      }))

    test("bounds the inbound queue: drops newest frames as overflow when the consumer lags", () =>
      Effect.gen(function* () {
        const c = yield* harness.make([N1, N2], { inboundCapacity: 4 })
        for (let i = 0; i < 10; i++) yield* c.transport(N1).send(N2, [hb(N1, N2, 1, i)])
        const stats = yield* eventually(c.transport(N2).stats, (s) => s.framesReceived >= 10, "10 frames")
        expect(stats.dropped.overflow).toBe(6)
        expect(stats.inboundBatches).toBe(4)
        const held = yield* c.transport(N2).takeAll
        expect(held.map((b) => b.envelopes[0]!.message.commit)).toEqual([0, 1, 2, 3])
        expect((yield* c.transport(N2).stats).inboundBatches).toBe(0)
        yield* c.transport(N1).send(N2, [hb(N1, N2, 1, 10)])
        expect((yield* take(c.transport(N2))).envelopes[0]!.message.commit).toBe(10)
      }))

    test("drops, counts and logs a message it cannot encode, and sends the others", (lines) =>
      Effect.gen(function* () {
        const c = yield* harness.make([N1, N2])
        // One addressed to a replica on another node, one not from this node (issue 12, finding 1).
        yield* c
          .transport(N1)
          .send(N2, [hb(N1, N2, 1, 1), hb(N1, N3, 1, 2), hb(N3, N2, 1, 3), hb(N1, N2, 1, 4)])
        expect((yield* take(c.transport(N2))).envelopes).toEqual([hb(N1, N2, 1, 1), hb(N1, N2, 1, 4)])
        const stats = yield* c.transport(N1).stats
        expect(stats.unsent.invalid).toBe(2)
        expect(stats.envelopesSent).toBe(2)
        yield* eventually(
          Effect.sync(() => lines.filter((l) => l.includes("cannot be encoded and were not sent")).length),
          (n) => n === 1,
          "1 log line",
        )
      }))

    test("serves inbound batches as a stream too", () =>
      Effect.gen(function* () {
        const c = yield* harness.make([N1, N2])
        const frames = [[hb(N1, N2, 1, 1)], [hb(N1, N2, 1, 2), app(N1, N2, 3, 4)]]
        for (const f of frames) yield* c.transport(N1).send(N2, f)
        const got = yield* Stream.runCollect(Stream.take(c.transport(N2).inbound, 2))
        expect(Chunk.toReadonlyArray(got).map((b) => b.envelopes)).toEqual(frames)
      }))
  })
}
