import { Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import {
  decodeScan,
  Kv,
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
  scanRequest,
  ValueTooLarge,
} from "../../shards/kv/Kv.js"
import * as KvText from "../../shards/kv/KvText.js"
import { EntityId, MemorySender, ShardScan, Wire } from "../../src/runtime/entity/index.js"
import { Driver, errorTag, kvReply, kvRequest, ok } from "./KvHarness.js"

const key = (s: string) => EntityId.fromString(s)
const value = (s: string) => EntityId.fromString(s)

describe("KV kind", () => {
  it("puts, gets and deletes", () => {
    const d = new Driver()
    expect(ok(kvReply("Put", d.apply(kvRequest("Put", key("k"), { value: value("v1") }))))).toEqual({
      created: true,
    })
    expect(ok(kvReply("Put", d.apply(kvRequest("Put", key("k"), { value: value("v2") }))))).toEqual({
      created: false,
    })
    expect(ok(kvReply("Get", d.shard.query(kvRequest("Get", key("k"), {}))))).toEqual(value("v2"))
    expect(ok(kvReply("Delete", d.apply(kvRequest("Delete", key("k"), {}))))).toEqual({ deleted: true })
    expect(ok(kvReply("Delete", d.apply(kvRequest("Delete", key("k"), {}))))).toEqual({ deleted: false })
    expect(ok(kvReply("Get", d.shard.query(kvRequest("Get", key("k"), {}))))).toBeNull()
    // An empty value is a value, not an absence.
    d.apply(kvRequest("Put", key("e"), { value: new Uint8Array() }))
    expect(ok(kvReply("Get", d.shard.query(kvRequest("Get", key("e"), {}))))).toEqual(new Uint8Array())
    expect(d.shard.entityCount).toBe(1)
  })

  it("compares and sets against a value or an absence", () => {
    const d = new Driver()
    const cas = (expected: Uint8Array | null, v: Uint8Array | null) =>
      ok(kvReply("Cas", d.apply(kvRequest("Cas", key("k"), { expected, value: v }))))
    expect(cas(value("x"), value("a"))).toEqual({ succeeded: false, current: null })
    expect(cas(null, value("a"))).toEqual({ succeeded: true })
    expect(cas(null, value("b"))).toEqual({ succeeded: false, current: value("a") })
    expect(cas(value("z"), value("b"))).toEqual({ succeeded: false, current: value("a") })
    expect(cas(value("a"), value("b"))).toEqual({ succeeded: true })
    expect(cas(value("b"), null)).toEqual({ succeeded: true })
    expect(d.shard.entityCount).toBe(0)
  })

  it("enforces the key and value limits with clear errors and writes nothing", () => {
    const d = new Driver()
    const big = new Uint8Array(MAX_VALUE_BYTES + 1)
    const refused = kvReply("Put", d.apply(kvRequest("Put", key("k"), { value: big })))
    expect(refused).toEqual(
      Either.left(new ValueTooLarge({ size: MAX_VALUE_BYTES + 1, limit: MAX_VALUE_BYTES })),
    )
    expect(kvReply("Cas", d.apply(kvRequest("Cas", key("k"), { expected: null, value: big })))).toEqual(
      refused,
    )
    expect(
      ok(kvReply("Put", d.apply(kvRequest("Put", key("k"), { value: new Uint8Array(MAX_VALUE_BYTES) })))),
    ).toEqual({ created: true })
    expect(
      errorTag(d.apply(kvRequest("Put", new Uint8Array(MAX_KEY_BYTES + 1), { value: value("v") }))),
    ).toBe("InvalidEntityId")
    expect(
      ok(kvReply("Put", d.apply(kvRequest("Put", new Uint8Array(MAX_KEY_BYTES), { value: value("v") })))),
    ).toEqual({ created: true })
    // The largest CAS (key and two values at their limits) fits in one request.
    const full = kvRequest("Cas", new Uint8Array(MAX_KEY_BYTES).fill(1), {
      expected: new Uint8Array(MAX_VALUE_BYTES),
      value: new Uint8Array(MAX_VALUE_BYTES),
    })
    expect(full.length).toBeLessThanOrEqual(Wire.MAX_REQUEST_BYTES)
    expect(ok(kvReply("Cas", d.apply(full)))).toEqual({ succeeded: false, current: null })
    expect(d.shard.entityCount).toBe(2)
  })

  it("scans by prefix and range in byte order, paging by limit", () => {
    const d = new Driver()
    for (const k of ["user/1", "user/2", "user/10", "users", "admin", "user/"]) {
      d.apply(kvRequest("Put", key(k), { value: value(`v:${k}`) }))
    }
    const scan = (range: KvText.TextRange) => ok(decodeScan(d.shard.query(scanRequest(KvText.range(range)))))
    const keys = (page: { entries: ReadonlyArray<{ key: Uint8Array }> }) =>
      page.entries.map((e) => EntityId.toStringLenient(e.key))
    expect(keys(scan({ prefix: "user/", limit: 10 }))).toEqual(["user/", "user/1", "user/10", "user/2"])
    expect(keys(scan({ start: "user/1", end: "user/2", limit: 10 }))).toEqual(["user/1", "user/10"])
    expect(keys(scan({ start: "b", prefix: "user", limit: 10 }))).toEqual([
      "user/",
      "user/1",
      "user/10",
      "user/2",
      "users",
    ])
    const first = scan({ prefix: "user/", limit: 3 })
    expect(keys(first)).toEqual(["user/", "user/1", "user/10"])
    expect(KvText.pageText(first)[1]).toEqual(["user/1", "v:user/1"])
    const rest = scan({ prefix: "user/", limit: 3, after: first.continuation })
    expect(keys(rest)).toEqual(["user/2"])
    expect(rest.continuation).toBeUndefined()
  })

  it("keeps a scan page under the reply budget and still makes progress", () => {
    const d = new Driver()
    const v = new Uint8Array(400 * 1024)
    for (const k of ["a", "b", "c"]) d.apply(kvRequest("Put", key(k), { value: v }))
    const first = ok(decodeScan(d.shard.query(scanRequest({ limit: 10 }))))
    expect(first.entries.map((e) => EntityId.toStringLenient(e.key))).toEqual(["a", "b"])
    const second = ok(decodeScan(d.shard.query(scanRequest({ limit: 10, after: first.continuation }))))
    expect(second.entries.map((e) => EntityId.toStringLenient(e.key))).toEqual(["c"])
    expect(second.continuation).toBeUndefined()
    expect(ShardScan.MAX_SCAN_REPLY_BYTES).toBeLessThan(Wire.MAX_REQUEST_BYTES)
  })

  it("offers UTF-8 helpers and a text client", async () => {
    const program = Effect.gen(function* () {
      const greeting = KvText.client("greeting")
      expect(yield* greeting.get()).toBeNull()
      expect(yield* greeting.put("h\u00e9llo")).toEqual({ created: true })
      expect(yield* greeting.get()).toBe("h\u00e9llo")
      expect(yield* greeting.cas("nope", "x")).toEqual({ succeeded: false, current: "h\u00e9llo" })
      expect(yield* greeting.cas("h\u00e9llo", "bye")).toEqual({ succeeded: true })
      expect(yield* greeting.delete()).toEqual({ deleted: true })
      const tooBig = yield* Effect.flip(greeting.put("x".repeat(MAX_VALUE_BYTES + 1)))
      expect(tooBig).toBeInstanceOf(ValueTooLarge)
      yield* Kv.client("binary").Put({ value: Uint8Array.of(0xc3) })
      const notText = yield* Effect.flip(KvText.client("binary").get())
      expect(notText).toEqual(new KvText.NotUtf8({ key: "binary" }))
      return yield* Kv.client("greeting").Get()
    })
    expect(await Effect.runPromise(program.pipe(Effect.provide(MemorySender.layer([Kv]))))).toBeNull()
    expect(KvText.decode(KvText.encode("\u6c34"))).toBe("\u6c34")
    expect(KvText.decode(Uint8Array.of(0xff))).toBeUndefined()
  })
})
