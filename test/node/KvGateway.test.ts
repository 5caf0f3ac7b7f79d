/**
 * The KV gateway on `flotilla.<c>.kv` over an in-process cluster: every operation in JSON,
 * base64 for binary, the queue group (several gateways, each request answered once), and bad
 * requests: each gets a `BadRequest` reply naming the problem, and none reaches a Raft log.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import fc from "fast-check"
import { Kv, MAX_VALUE_BYTES } from "../../shards/kv/Kv.js"
import * as Gateway from "../../src/node/GatewayProtocol.js"
import * as KvGateway from "../../src/node/KvGateway.js"
import { GroupId } from "../../src/raft/Ids.js"
import { Bus } from "../../src/transport/Bus.js"
import { eventually } from "../client/support/Eventually.js"
import * as MemoryCluster from "../client/support/MemoryCluster.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const setupWith = (options: Partial<KvGateway.KvGatewayOptions> = {}, gateways = 2) =>
  Effect.gen(function* () {
    const cluster = yield* MemoryCluster.make({ kinds: [Kv], shards: 3 })
    // Two gateways (as two nodes would run), one client bus.
    const layers = Array.from({ length: gateways }, () =>
      KvGateway.layer({ ...options, cluster: cluster.cluster }).pipe(Layer.provide(cluster.clientBus)),
    )
    for (const layer of layers) yield* Layer.buildWithScope(layer, yield* Effect.scope)
    const bus = Context.get(yield* Layer.build(cluster.clientBus), Bus)
    const req = (body: unknown) =>
      Effect.map(
        bus
          .request(
            `flotilla.${cluster.cluster}.kv`,
            body instanceof Uint8Array
              ? body
              : encoder.encode(typeof body === "string" ? body : JSON.stringify(body)),
            { timeout: "10 seconds" },
          )
          .pipe(Effect.orDie),
        (bytes) => JSON.parse(decoder.decode(bytes)) as Record<string, unknown>,
      )
    const raw = (body: Uint8Array) =>
      bus.request(`flotilla.${cluster.cluster}.kv`, body, { timeout: "10 seconds" }).pipe(Effect.orDie)
    return { cluster, req, raw }
  })

const setup = setupWith()

/** The last log index of every group on every node: unchanged means nothing was proposed. */
const logPositions = (cluster: MemoryCluster.MemoryCluster) =>
  Effect.gen(function* () {
    const out: number[] = []
    for (let id = 1; id <= 3; id++) {
      const node = Option.getOrThrow(cluster.node(id))
      for (const g of cluster.groupsOf("kv")) {
        const st = yield* node.status(GroupId(g))
        out.push(Option.isSome(st) ? st.value.lastIndex : -1)
      }
    }
    return out
  })

describe("KV gateway", () => {
  it.live(
    "serves get, put, delete, cas and scan in JSON",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { req } = yield* setup
          expect(yield* req({ op: "get", key: "a" })).toEqual({ ok: true, value: null })
          expect(yield* req({ op: "put", key: "a", value: "1" })).toEqual({ ok: true, created: true })
          expect(yield* req({ op: "put", key: "a", value: "héllo" })).toEqual({ ok: true, created: false })
          expect(yield* req({ op: "get", key: "a" })).toEqual({ ok: true, value: "héllo" })
          // A stale read may come from a follower a write behind; it catches up.
          const stale = yield* eventually(
            req({ op: "get", key: "a", stale: true }),
            (r) => r.value === "héllo",
          )
          expect(stale).toEqual({ ok: true, value: "héllo" })
          expect(yield* req({ op: "cas", key: "a", expected: "héllo", value: "2" })).toEqual({ ok: true })
          expect(yield* req({ op: "cas", key: "a", expected: "x", value: "3" })).toMatchObject({
            ok: false,
            error: "Conflict",
            current: "2",
          })
          expect(yield* req({ op: "cas", key: "b", expected: null, value: "new" })).toEqual({ ok: true })
          expect(yield* req({ op: "cas", key: "b", expected: "new", value: null })).toEqual({ ok: true })
          expect(yield* req({ op: "delete", key: "a" })).toEqual({ ok: true, deleted: true })
          expect(yield* req({ op: "delete", key: "a" })).toEqual({ ok: true, deleted: false })

          // Binary through base64; reading it as UTF-8 says what to do.
          const bin = Buffer.from([0xff, 0x00, 0xfe]).toString("base64")
          const key = Buffer.from("bin").toString("base64")
          expect(yield* req({ op: "put", key, value: bin, encoding: "base64" })).toEqual({
            ok: true,
            created: true,
          })
          expect(yield* req({ op: "get", key, encoding: "base64" })).toEqual({ ok: true, value: bin })
          const notUtf8 = yield* req({ op: "get", key: "bin" })
          expect(notUtf8).toMatchObject({ ok: false, error: "NotUtf8" })
          expect(notUtf8.message).toContain("base64")
          yield* req({ op: "delete", key: "bin" })

          for (let i = 0; i < 25; i++)
            yield* req({ op: "put", key: `s-${String(i).padStart(2, "0")}`, value: `${i}` })
          const keys: string[] = []
          let after: string | undefined
          for (;;) {
            const page = yield* req({ op: "scan", prefix: "s-", limit: 7, ...(after ? { after } : {}) })
            expect(page.ok).toBe(true)
            for (const e of page.entries as Array<{ key: string; value: string }>) {
              expect(e.value).toBe(String(Number(e.key.slice(2))))
              keys.push(e.key)
            }
            if (page.continuation === null) break
            after = page.continuation as string
          }
          expect(keys).toEqual(Array.from({ length: 25 }, (_, i) => `s-${String(i).padStart(2, "0")}`))
        }),
      ),
    60_000,
  )

  it.live(
    "answers bad requests with BadRequest and proposes nothing",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { cluster, req } = yield* setup
          yield* req({ op: "put", key: "keep", value: "v" })
          const before = yield* logPositions(cluster)
          const cases: Array<[unknown, string]> = [
            ["not json at all", "not JSON"],
            [new Uint8Array([0xff, 0xfe, 0x00]), "not UTF-8"],
            ["[1,2]", "JSON object"],
            ["null", "JSON object"],
            [{ key: "a" }, `missing "op"`],
            [{ op: "increment", key: "a" }, `unknown op "increment"`],
            [{ op: 7, key: "a" }, "unknown op 7"],
            [{ op: "get" }, `"key"`],
            [{ op: "get", key: 5 }, `"key"`],
            [{ op: "put", key: "a" }, `"value"`],
            [{ op: "put", key: "a", vaule: "1" }, `unknown field "vaule"`],
            [{ op: "put", key: "a", value: ["1"] }, `"value"`],
            [{ op: "put", key: "", value: "1" }, "key is empty"],
            [{ op: "put", key: "k".repeat(4097), value: "1" }, "limit is 4096"],
            [{ op: "put", key: "a", value: "x".repeat(MAX_VALUE_BYTES + 1) }, `limit is ${MAX_VALUE_BYTES}`],
            [{ op: "put", key: "a", value: "!!", encoding: "base64" }, "not valid base64"],
            [{ op: "put", key: "a", value: "1", encoding: "hex" }, `"encoding"`],
            [{ op: "cas", key: "a", value: "1" }, `"expected"`],
            [{ op: "scan", limit: 0 }, `"limit"`],
            [{ op: "scan", limit: 5000 }, `"limit"`],
            [{ op: "scan", after: "%%" }, "not valid base64"],
            [{ op: "get", key: "a", timeoutMs: 0 }, `"timeoutMs"`],
            [{ op: "get", key: "a", stale: "yes" }, `"stale"`],
          ]
          for (const [body, needle] of cases) {
            const reply = yield* req(body)
            expect(reply, JSON.stringify(body).slice(0, 80)).toMatchObject({ ok: false, error: "BadRequest" })
            expect(String(reply.message)).toContain(needle)
          }
          expect(yield* logPositions(cluster)).toEqual(before)
          expect(yield* req({ op: "get", key: "keep" })).toEqual({ ok: true, value: "v" })
        }),
      ),
    60_000,
  )

  it("refuses arbitrary bytes and arbitrary JSON values without throwing", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(Gateway.decodeRequest(bytes)._tag).toBe("Left")
      }),
    )
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const r = Gateway.decodeRequest(encoder.encode(JSON.stringify(value)))
        if (r._tag === "Left") expect(r.left.message.length).toBeGreaterThan(0)
      }),
    )
    expect(Gateway.fromBase64("YQ==")).toEqual(new Uint8Array([97]))
    expect(Gateway.fromBase64("YQ")).toBeUndefined()
    expect(Gateway.toBase64(new Uint8Array([1, 2, 3]))).toBe("AQID")
  })

  it.live(
    "survives 3,000-deep JSON and never echoes a large input (issue 11, finding 5)",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { req, raw } = yield* setup
          const deep = `{"op":"put","key":"a","value":${"[".repeat(3000)}${"]".repeat(3000)}}`
          // More deep requests than it took to disable every gateway of a cluster.
          for (let i = 0; i < 30; i++) {
            const reply = yield* req(deep)
            expect(reply).toMatchObject({ ok: false, error: "BadRequest" })
            expect(String(reply.message)).toContain("deeper than")
          }
          const big = "x".repeat(600 * 1024)
          const huge: unknown[] = [
            { op: "put", key: "a", value: "1", [big]: 1 },
            { op: big, key: "a" },
            { op: "put", key: "a", value: Array.from({ length: 60_000 }, (_, i) => i) },
            { op: "put", key: big, value: "1" },
          ]
          for (const body of huge) {
            const bytes = yield* raw(encoder.encode(JSON.stringify(body)))
            expect(bytes.length).toBeLessThan(1024)
            expect(JSON.parse(decoder.decode(bytes))).toMatchObject({ ok: false, error: "BadRequest" })
          }
          expect(yield* req({ op: "put", key: "after", value: "ok" })).toEqual({ ok: true, created: true })
          expect(yield* req({ op: "get", key: "after" })).toEqual({ ok: true, value: "ok" })
        }),
      ),
    120_000,
  )

  it.live(
    "refuses lone surrogates in keys and values, escaped or as raw bytes (issue 11, finding 9)",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { cluster, req, raw } = yield* setup
          yield* req({ op: "put", key: "keep", value: "v" })
          const before = yield* logPositions(cluster)
          const escaped = [
            '{"op":"put","key":"\\ud800","value":"1"}',
            '{"op":"put","key":"a\\udc00","value":"1"}',
            '{"op":"put","key":"a","value":"\\ud83dx"}',
            '{"op":"cas","key":"a","expected":"\\ud800","value":null}',
            '{"op":"scan","prefix":"\\uDBFF"}',
          ]
          for (const text of escaped) {
            const reply = yield* req(text)
            expect(reply, text).toMatchObject({ ok: false, error: "BadRequest" })
            expect(String(reply.message)).toContain("surrogate")
          }
          // UTF-8 of a surrogate (ED A0 80) inside the key: not UTF-8 at all.
          const rawKey = new Uint8Array([
            ...encoder.encode('{"op":"put","key":"'),
            0xed,
            0xa0,
            0x80,
            ...encoder.encode('","value":"1"}'),
          ])
          expect(JSON.parse(decoder.decode(yield* raw(rawKey)))).toMatchObject({
            ok: false,
            error: "BadRequest",
          })
          expect(yield* logPositions(cluster)).toEqual(before)
          // The real U+FFFD key is untouched, and a proper pair (an emoji) is fine.
          expect(yield* req({ op: "get", key: "\ufffd" })).toEqual({ ok: true, value: null })
          expect(yield* req('{"op":"put","key":"\\ud83d\\ude00","value":"1"}')).toEqual({
            ok: true,
            created: true,
          })
          expect(yield* req({ op: "get", key: "😀" })).toEqual({ ok: true, value: "1" })
        }),
      ),
    60_000,
  )

  it.live(
    "answers Overloaded beyond its bound and answers every request",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { req } = yield* setupWith({ concurrency: 1, maxPending: 2 }, 1)
          const replies = yield* Effect.forEach(
            Array.from({ length: 40 }, (_, i) => i),
            (i) => req({ op: "put", key: `k${i}`, value: "v" }),
            { concurrency: "unbounded" },
          )
          const overloaded = replies.filter((r) => r.error === "Overloaded")
          expect(overloaded.length).toBeGreaterThan(0)
          expect(replies.filter((r) => r.ok === true).length).toBeGreaterThanOrEqual(2)
          expect(overloaded.length + replies.filter((r) => r.ok === true).length).toBe(40)
          expect(yield* req({ op: "get", key: "k0" })).toMatchObject({ ok: true })
        }),
      ),
    60_000,
  )
})
