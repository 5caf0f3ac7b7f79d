import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, TestClock } from "effect"
import { afterAll, beforeAll } from "vitest"
import type { GroupId, NodeId } from "../../src/raft/Ids.js"
import * as Bus from "../../src/transport/Bus.js"
import * as MemoryBus from "../../src/transport/MemoryBus.js"
import * as NatsConnection from "../../src/transport/NatsConnection.js"
import * as NatsServer from "../../src/transport/NatsServer.js"
import {
  clusterSubjects,
  isValidPublishSubject,
  isValidSubscribeSubject,
  type ParsedSubject,
  subjectMatches,
} from "../../src/transport/Subjects.js"
import { busCompliance } from "./busCompliance.js"

let server: NatsServer.RunningNatsServer
beforeAll(async () => {
  server = await NatsServer.startNatsServer()
})
afterAll(async () => {
  await server?.close()
})

busCompliance(
  "NATS",
  Effect.sync(() => Effect.map(NatsConnection.make({ servers: server.url }), Bus.makeNatsBus)),
)
busCompliance(
  "memory",
  Effect.map(MemoryBus.make(), (bus) => bus.connect),
)

const te = new TextEncoder()

describe("MemoryBus specifics", () => {
  it.scoped("times out requests on the Effect clock (TestClock)", () =>
    Effect.gen(function* () {
      const bus = yield* MemoryBus.make()
      const a = yield* bus.connect
      yield* a.subscribe("slow")
      const pending = yield* Effect.fork(
        Effect.flip(a.request("slow", te.encode("x"), { timeout: "2 seconds" })),
      )
      yield* TestClock.adjust("1999 millis")
      expect(pending.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(pending)).toMatchObject({ _tag: "RequestTimeout", timeoutMillis: 2000 })
    }),
  )

  it.scoped("rotates a queue group's messages round-robin, so runs are deterministic", () =>
    Effect.gen(function* () {
      const bus = yield* MemoryBus.make()
      const a = yield* bus.connect
      const members = yield* Effect.forEach([1, 2, 3], () => a.subscribe("c.kv", { queue: "kv" }))
      const other = yield* a.subscribe("c.kv", { queue: "other" })
      for (let i = 0; i < 9; i++) yield* a.publish("c.kv", te.encode(String(i)))
      for (const [i, m] of members.entries()) {
        const got = [yield* m.take, yield* m.take, yield* m.take].map((x) =>
          Number(new TextDecoder().decode(x.data)),
        )
        expect(got).toEqual([i, i + 3, i + 6])
      }
      for (let i = 0; i < 9; i++) yield* other.take
    }),
  )

  it.scoped("drops messages beyond a subscription's capacity and counts them", () =>
    Effect.gen(function* () {
      const bus = yield* MemoryBus.make({ maxPayload: 100 })
      const a = yield* bus.connect
      const sub = yield* a.subscribe("x", { capacity: 2 })
      for (let i = 0; i < 5; i++) yield* a.publish("x", te.encode("m"))
      expect(sub.dropped()).toBe(3)
      expect(yield* bus.stats).toMatchObject({ published: 5, delivered: 2, dropped: 3, subscriptions: 1 })
      expect(a.maxPayload()).toBe(100)
      expect((yield* Effect.flip(a.publish("x", new Uint8Array(101))))._tag).toBe("PayloadTooLarge")
    }),
  )
})

describe("subject matching", () => {
  it.each([
    ["a.b.c", "a.b.c", true],
    ["a.*.c", "a.b.c", true],
    ["a.*", "a.b.c", false],
    ["a.>", "a.b.c", true],
    ["a.>", "a", false],
    ["*.>", "a.b", true],
    [">", "a", true],
    ["a.b", "a.b.c", false],
    ["a.b.c", "a.b", false],
  ])("%s matches %s: %s", (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected)
  })
})

describe("cluster subjects", () => {
  const s = clusterSubjects("prod", "acme.flotilla")

  it("names every subject under <prefix>.<cluster>.<class> and parses them back", () => {
    const n = 3 as NodeId
    const named: Array<[string, ParsedSubject]> = [
      [s.raft(n), { kind: "raft", node: n }],
      [s.snap(n), { kind: "snap", node: n }],
      [s.live(n), { kind: "live", node: n }],
      [s.metaOf("internal"), { kind: "meta", class: "internal" }],
      [s.group(42 as GroupId), { kind: "group", group: 42 as GroupId }],
      [s.kv, { kind: "kv" }],
      [s.meta, { kind: "meta", class: "client" }],
      [s.admin(n), { kind: "admin", class: "client", node: n }],
      [s.metaOf("operator"), { kind: "meta", class: "operator" }],
      [s.adminOperator(n), { kind: "admin", class: "operator", node: n }],
    ]
    expect(named.map(([subject]) => subject)).toEqual([
      "acme.flotilla.prod.int.raft.3",
      "acme.flotilla.prod.int.snap.3",
      "acme.flotilla.prod.int.live.3",
      "acme.flotilla.prod.int.meta",
      "acme.flotilla.prod.cli.group.42",
      "acme.flotilla.prod.kv",
      "acme.flotilla.prod.cli.meta",
      "acme.flotilla.prod.cli.admin.3",
      "acme.flotilla.prod.op.meta",
      "acme.flotilla.prod.op.admin.3",
    ])
    for (const [subject, parsed] of named) expect(s.parse(subject)).toEqual(parsed)
    // Each class is one wildcard (plus the gateway's address, granted to clients by name,
    // decision 0066), and every subject falls under exactly its own.
    const classOf = (subject: string) =>
      (["internal", "client", "operator"] as const).filter(
        (c) => subjectMatches(s.classWildcard(c), subject) || (c === "client" && subject === s.kv),
      )
    expect(named.map(([subject]) => classOf(subject))).toEqual([
      ["internal"],
      ["internal"],
      ["internal"],
      ["internal"],
      ["client"],
      ["client"],
      ["client"],
      ["client"],
      ["operator"],
      ["operator"],
    ])
    expect(s.liveAll).toBe("acme.flotilla.prod.int.live.*")
    expect(s.parse("acme.flotilla.prod.cli.group.4294967295")).toEqual({ kind: "group", group: 4294967295 })
    for (const other of [
      "acme.flotilla.test.int.raft.3",
      "acme.flotilla.prod.raft.3",
      "acme.flotilla.prod.int.raft.0",
      "acme.flotilla.prod.int.raft.65536",
      "acme.flotilla.prod.int.raft.03",
      "acme.flotilla.prod.cli.raft.3",
      "acme.flotilla.prod.op.group.1",
      "acme.flotilla.prod.int.admin.1",
      "acme.flotilla.prod.cli.group.4294967296",
      "acme.flotilla.prod.cli.group.1.x",
      "acme.flotilla.prod.kv.1",
      "acme.flotilla.prod.op.kv",
      "acme.flotilla.prod.cli.other.1",
      "acme.flotilla.prod.meta",
    ])
      expect(s.parse(other)).toBeUndefined()
  })

  it("refuses cluster names and prefixes that are not plain tokens", () => {
    expect(() => clusterSubjects("a.b")).toThrow(/cluster name/)
    expect(() => clusterSubjects("a", "x..y")).toThrow(/subject prefix/)
    expect(() => clusterSubjects("a b")).toThrow(/cluster name/)
  })

  it("applies NATS's rules to publish and subscribe subjects", () => {
    expect(isValidPublishSubject("a.b")).toBe(true)
    expect(isValidPublishSubject("a.*")).toBe(false)
    expect(isValidSubscribeSubject("a.*.>")).toBe(true)
    expect(isValidSubscribeSubject("a.>.b")).toBe(false)
    expect(isValidSubscribeSubject("a\tb")).toBe(false)
    expect(isValidPublishSubject("a b")).toBe(false)
    expect(isValidPublishSubject("a.b*")).toBe(true)
  })
})
