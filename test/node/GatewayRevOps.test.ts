/**
 * The revisioned ops of the KV gateway in JSON over an in-process cluster: read at revisions,
 * transactions (and the CrossSlot refusal), leases, and `events` as a polled watch that
 * resumes from `next` without gaps or repeats.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Either, Layer } from "effect"
import { Kv } from "../../shards/kv/Kv.js"
import * as GatewayRevOps from "../../src/node/GatewayRevOps.js"
import * as KvGateway from "../../src/node/KvGateway.js"
import { Bus } from "../../src/transport/Bus.js"
import * as MemoryCluster from "../client/support/MemoryCluster.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const setup = Effect.gen(function* () {
  const cluster = yield* MemoryCluster.make({ kinds: [Kv], shards: 3 })
  yield* Layer.buildWithScope(
    KvGateway.layer({ cluster: cluster.cluster }).pipe(Layer.provide(cluster.clientBus)),
    yield* Effect.scope,
  )
  const bus = Context.get(yield* Layer.build(cluster.clientBus), Bus)
  // biome-ignore lint/suspicious/noExplicitAny: JSON replies are checked field by field
  const req = (body: unknown): Effect.Effect<any> =>
    Effect.map(
      bus
        .request(`flotilla.${cluster.cluster}.kv`, encoder.encode(JSON.stringify(body)), {
          timeout: "10 seconds",
        })
        .pipe(Effect.orDie),
      (bytes) => JSON.parse(decoder.decode(bytes)),
    )
  return { req }
})

describe("KV gateway: revisioned ops", () => {
  it.live(
    "read, txn, leases and events in JSON",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { req } = yield* setup
          const start = yield* req({ op: "events", prefix: "{g}" })
          expect(start.ok).toBe(true)
          expect(start.events).toEqual([])

          const t1 = yield* req({ op: "txn", success: [{ op: "put", key: "{g}a", value: "1" }] })
          expect(t1).toMatchObject({
            ok: true,
            succeeded: true,
            results: [{ op: "put", prev: null, lease: 0 }],
          })
          const t2 = yield* req({
            op: "txn",
            compare: [{ key: "{g}a", target: "modRevision", result: "=", number: t1.revision }],
            success: [
              { op: "put", key: "{g}a", value: "2" },
              { op: "delete", key: "{g}b" },
            ],
            failure: [{ op: "get", key: "{g}a" }],
          })
          expect(t2).toMatchObject({ ok: true, succeeded: true, revision: t1.revision + 1 })
          const past = yield* req({ op: "read", key: "{g}a", revision: t1.revision })
          expect(past).toMatchObject({ ok: true, kv: { value: "1", modRevision: t1.revision, version: 1 } })
          const cross = yield* req({
            op: "txn",
            success: [
              { op: "put", key: "a", value: "1" },
              { op: "put", key: "b", value: "1" },
            ],
          })
          expect(cross).toMatchObject({ ok: false, error: "CrossSlot" })
          const unknownField = yield* req({ op: "read", key: "x", revison: 3 })
          expect(unknownField).toMatchObject({ ok: false, error: "BadRequest" })

          const grant = yield* req({ op: "lease.grant", routeKey: "{g}", ttlMs: 60_000 })
          expect(grant).toMatchObject({ ok: true, ttlMs: 60_000 })
          yield* req({ op: "txn", success: [{ op: "put", key: "{g}l", value: "x", lease: grant.lease }] })
          expect(yield* req({ op: "lease.keepalive", lease: grant.lease, routeKey: "{g}" })).toEqual({
            ok: true,
          })
          expect(yield* req({ op: "lease.revoke", lease: grant.lease, routeKey: "{g}" })).toEqual({
            ok: true,
            deleted: 1,
          })
          expect(yield* req({ op: "lease.revoke", lease: grant.lease, routeKey: "{g}" })).toMatchObject({
            ok: false,
            error: "LeaseNotFound",
          })

          // Events from the position of the first call: every change once, then nothing new.
          const page = yield* req({ op: "events", prefix: "{g}", from: start.next, limit: 2 })
          const all = [...page.events]
          let next = page.next
          for (let i = 0; i < 10; i++) {
            const more = yield* req({ op: "events", prefix: "{g}", from: next, limit: 2 })
            all.push(...more.events)
            next = more.next
          }
          expect(
            all.map(
              (e: { type: string; key: string; value: string | null }) => `${e.type} ${e.key} ${e.value}`,
            ),
          ).toEqual(["put {g}a 1", "put {g}a 2", "put {g}l x", "delete {g}l null"])
          // A long poll returns as soon as something happens.
          const waiting = yield* Effect.fork(req({ op: "events", prefix: "{g}", from: next, waitMs: 10_000 }))
          yield* Effect.sleep("200 millis")
          yield* req({ op: "txn", success: [{ op: "put", key: "{g}late", value: "z" }] })
          const late = yield* waiting.await.pipe(Effect.flatten)
          expect(late.events.map((e: { key: string }) => e.key)).toEqual(["{g}late"])
        }),
      ),
    60_000,
  )
})

describe("GatewayRevOps.decodeTxn (the CLI's txn argument)", () => {
  it("reads the gateway's txn JSON and refuses anything else with a reason", () => {
    const t = GatewayRevOps.decodeTxn(
      '{"compare":[{"key":"{a}x","target":"version","result":"=","number":0}],"success":[{"op":"put","key":"{a}x","value":"1"}]}',
    )
    expect(Either.isRight(t)).toBe(true)
    if (Either.isRight(t))
      expect(t.right.success?.[0]).toMatchObject({ op: "put", value: encoder.encode("1") })
    expect(GatewayRevOps.decodeTxn("not json")).toEqual(Either.left(expect.any(String)))
    expect(GatewayRevOps.decodeTxn('{"success":[{"op":"put","key":"k"}]}')).toEqual(
      Either.left(expect.any(String)),
    )
    expect(GatewayRevOps.decodeTxn('{"sucess":[]}')).toEqual(
      Either.left(expect.stringContaining("unknown field")),
    )
  })
})
