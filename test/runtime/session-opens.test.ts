/**
 * The node's admission of session opens (SessionOpens.ts, issue 11 G): token buckets per client
 * and per group, and, over an in-process cluster, a flood of OpenSession requests answered
 * `Overloaded` beyond the burst while an established client's exactly-once session keeps working.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import { Kv } from "../../shards/kv/Kv.js"
import * as KvClient from "../../src/client/KvClient.js"
import * as Router from "../../src/client/Router.js"
import { Wire } from "../../src/runtime/entity/index.js"
import { clientOfReply, SessionOpenLimiter } from "../../src/runtime/SessionOpens.js"
import { Bus } from "../../src/transport/Bus.js"
import * as MemoryCluster from "../client/support/MemoryCluster.js"

const encoder = new TextEncoder()

describe("SessionOpenLimiter", () => {
  it("admits a burst of twice the rate per client, then the rate", () => {
    const l = new SessionOpenLimiter({ perClient: 10, perGroup: 1000, maxClients: 100 })
    let admitted = 0
    for (let i = 0; i < 100; i++) if (l.admit(1, "a", 0)) admitted++
    expect(admitted).toBe(20)
    expect(l.refused).toBe(80)
    // Another client has its own bucket; a second later, 10 more for "a".
    expect(l.admit(1, "b", 0)).toBe(true)
    admitted = 0
    for (let i = 0; i < 100; i++) if (l.admit(1, "a", 1000)) admitted++
    expect(admitted).toBe(10)
  })

  it("bounds each group whatever the client names, and forgets the least recently seen client", () => {
    const l = new SessionOpenLimiter({ perClient: 10, perGroup: 5, maxClients: 3 })
    let admitted = 0
    for (let i = 0; i < 50; i++) if (l.admit(7, `forged-${i}`, 0)) admitted++
    expect(admitted).toBe(10)
    // Group 8 is not drained by group 7's flood, and a client's limit holds per group.
    expect(l.admit(8, "x", 0)).toBe(true)
    const c = new SessionOpenLimiter({ perClient: 1, perGroup: 100, maxClients: 100 })
    expect([c.admit(1, "a", 0), c.admit(1, "a", 0), c.admit(1, "a", 0)]).toEqual([true, true, false])
    expect(c.admit(2, "a", 0)).toBe(true)
  })

  it("names a client by its reply subject's prefix", () => {
    expect(clientOfReply("_INBOX.abc.17")).toBe("_INBOX.abc")
    expect(clientOfReply("reply")).toBe("reply")
    expect(clientOfReply(undefined)).toBe("")
  })
})

describe("session opens at a node", () => {
  it.live(
    "a flood of opens is answered Overloaded beyond the burst; an established session keeps working",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* MemoryCluster.make({ kinds: [Kv], shards: 1 })
          const bus = Context.get(yield* Layer.build(cluster.clientBus), Bus)
          const router = Router.makeWith(bus, { cluster: cluster.cluster })
          const kv = KvClient.make(router)
          yield* kv.put(encoder.encode("a"), encoder.encode("1"))
          const group = cluster.groupsOf("kv")[0]!
          const open = Wire.encodeRequest({ type: "openSession", kind: Kv.name })
          const replies = yield* Effect.forEach(
            Array.from({ length: 400 }, () => open),
            (req) =>
              bus
                .request(`flotilla.${cluster.cluster}.cli.group.${group}`, req, { timeout: "10 seconds" })
                .pipe(
                  Effect.map((bytes) => Wire.decodeReply(bytes)),
                  Effect.orDie,
                ),
            { concurrency: "unbounded" },
          )
          const statuses = replies.map((r) => (r._tag === "Right" ? r.right.status : -1))
          const overloaded = replies.filter(
            (r) =>
              r._tag === "Right" &&
              r.right.status === Wire.ReplyStatus.RuntimeError &&
              JSON.stringify(Wire.decodeRuntimeErrorBody(r.right.body)).includes("Overloaded"),
          )
          expect(statuses.filter((s) => s === Wire.ReplyStatus.Success).length).toBeLessThanOrEqual(200)
          expect(overloaded.length).toBeGreaterThan(0)
          // The established client goes on in its session.
          yield* kv.put(encoder.encode("a"), encoder.encode("2"))
          const got = yield* kv.get(encoder.encode("a"))
          expect(Option.map(got, (v) => new TextDecoder().decode(v))).toEqual(Option.some("2"))
          let refused = 0
          for (let id = 1; id <= 3; id++) {
            const node = Option.getOrThrow(cluster.node(id))
            refused += (yield* node.stats).refusedSessionOpens
          }
          expect(refused).toBe(overloaded.length)
        }),
      ),
    60_000,
  )
})
