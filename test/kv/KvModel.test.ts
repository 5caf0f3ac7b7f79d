/**
 * Model-based test of the KV shard: random sequences of commands, reads and scans against a
 * plain Map, with retries of earlier commands (exactly-once), snapshot/restore at random
 * points, a second replica fed the same log (determinism, byte-identical snapshots), and
 * mutated or random bytes (never a throw, never a state change when rejected).
 */
import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Kv } from "../../shards/kv/Kv.js"
import { KvStateMachine } from "../../shards/kv/KvStateMachine.js"
import { EntityId, ShardScan, Wire } from "../../src/runtime/entity/index.js"
import { Driver, errorTag, hex, kvReply, kvRequest, ok, statusOf, unhex } from "./KvHarness.js"

const keyArb = fc
  .array(fc.constantFrom(0x00, 0x01, 0x61, 0x62, 0xff), { minLength: 1, maxLength: 3 })
  .map((a) => Uint8Array.from(a))
const valueArb = fc.uint8Array({ maxLength: 6 })
const optKey = fc.option(keyArb, { nil: undefined })
const lag = fc.nat(3)

const opArb = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant("put" as const), key: keyArb, value: valueArb, lag }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("delete" as const), key: keyArb, lag }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("cas" as const),
      key: keyArb,
      expected: fc.oneof(fc.constant("current" as const), fc.constant(null), valueArb),
      value: fc.option(valueArb, { nil: null }),
      lag,
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("get" as const), key: keyArb, viaLog: fc.boolean() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("scan" as const),
      start: optKey,
      end: optKey,
      prefix: optKey,
      limit: fc.integer({ min: 1, max: 4 }),
      values: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("retry" as const), back: fc.nat(6) }) },
  { weight: 1, arbitrary: fc.constant({ t: "restore" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "count" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("mutate" as const),
      // A command sent before, or a fresh one (next seq) that only the scratch copy sees.
      back: fc.option(fc.nat(6), { nil: undefined }),
      key: keyArb,
      value: valueArb,
      at: fc.nat(),
      xor: fc.integer({ min: 1, max: 255 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant("garbage" as const), bytes: fc.uint8Array({ maxLength: 40 }) }),
  },
)

type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never

interface Sent {
  readonly seq: number
  readonly bytes: Uint8Array
  readonly reply: Uint8Array
}

/** Byte positions a mutation may hit: the header except the proposer time, and the body. */
const mutablePositions = (length: number) => [
  0,
  1,
  2,
  ...Array.from({ length: length - 11 }, (_, i) => 11 + i),
]

const run = (ops: ReadonlyArray<Op>) => {
  const a = new Driver()
  const b = new Driver()
  const session = a.openSession()
  expect(b.openSession()).toBe(session)
  const model = new Map<string, Uint8Array>()
  const sent: Sent[] = []
  let seq = 0
  let acked = 0

  /** Both replicas apply the same bytes at the same index and must answer the same. */
  const both = (bytes: Uint8Array) => {
    const reply = a.apply(bytes)
    expect(b.apply(bytes)).toEqual(reply)
    return reply
  }
  const command = (operation: "Put" | "Delete" | "Cas", key: Uint8Array, payload: object, l: number) => {
    seq++
    acked = Math.max(acked, seq - l)
    const bytes = kvRequest(operation, key, payload, { session, seq, ackedBelow: acked })
    const reply = both(bytes)
    sent.push({ seq, bytes, reply })
    return reply
  }
  const expectedRange = (start?: Uint8Array, end?: Uint8Array, prefix?: Uint8Array) =>
    [...model.entries()]
      .filter(([k]) => {
        const key = unhex(k)
        return (
          (start === undefined || EntityId.compare(key, start) >= 0) &&
          (end === undefined || EntityId.compare(key, end) < 0) &&
          (prefix === undefined || EntityId.hasPrefix(key, prefix))
        )
      })
      .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))

  for (const op of ops) {
    switch (op.t) {
      case "put": {
        const reply = ok(kvReply("Put", command("Put", op.key, { value: op.value }, op.lag)))
        expect(reply).toEqual({ created: !model.has(hex(op.key)) })
        model.set(hex(op.key), op.value)
        break
      }
      case "delete": {
        const reply = ok(kvReply("Delete", command("Delete", op.key, {}, op.lag)))
        expect(reply).toEqual({ deleted: model.has(hex(op.key)) })
        model.delete(hex(op.key))
        break
      }
      case "cas": {
        const current = model.get(hex(op.key)) ?? null
        const expected = op.expected === "current" ? current : op.expected
        const reply = ok(kvReply("Cas", command("Cas", op.key, { expected, value: op.value }, op.lag)))
        const matches =
          expected === null || current === null ? expected === current : EntityId.equals(expected, current)
        expect(reply).toEqual(matches ? { succeeded: true } : { succeeded: false, current })
        if (matches) {
          if (op.value === null) model.delete(hex(op.key))
          else model.set(hex(op.key), op.value)
        }
        break
      }
      case "get": {
        const bytes = kvRequest("Get", op.key, {})
        const reply = op.viaLog ? both(bytes) : a.shard.query(bytes)
        expect(ok(kvReply("Get", reply))).toEqual(model.get(hex(op.key)) ?? null)
        break
      }
      case "scan": {
        const expected = expectedRange(op.start, op.end, op.prefix)
        const got: Array<readonly [string, Uint8Array | undefined]> = []
        let after: Uint8Array | undefined
        let pages = 0
        do {
          const range = {
            start: op.start,
            end: op.end,
            prefix: op.prefix,
            after,
            limit: op.limit,
            values: op.values,
          }
          const page = ok(ShardScan.decodeReply(Kv, a.shard.query(ShardScan.encodeRequest(Kv, range))))
          expect(page.entries.length).toBeLessThanOrEqual(op.limit)
          if (pages === 0) expect(page.continuation !== undefined).toBe(expected.length > op.limit)
          for (const e of page.entries) got.push([hex(e.id), e.state ?? undefined])
          after = page.continuation
          pages++
          // Every page but the last is full and makes progress, so this many pages is the most.
          expect(pages).toBeLessThanOrEqual(Math.ceil(expected.length / op.limit) + 1)
        } while (after !== undefined)
        expect(got).toEqual(expected.map(([k, v]) => [k, op.values ? v : undefined]))
        break
      }
      case "retry": {
        const earlier = sent[sent.length - 1 - op.back]
        if (earlier === undefined) break
        const reply = both(earlier.bytes)
        // At or above the acknowledged floor the cached reply comes back; below it, a refusal.
        if (earlier.seq >= acked) expect(reply).toEqual(earlier.reply)
        else expect(errorTag(reply)).toBe("StaleSequence")
        break
      }
      case "restore": {
        const snapshot = a.shard.snapshot()
        expect(b.shard.snapshot()).toEqual(snapshot)
        const fresh = new KvStateMachine()
        fresh.restore(snapshot)
        expect(fresh.snapshot()).toEqual(snapshot)
        const restored = new Driver(fresh)
        restored.index = a.index
        Object.assign(a, { shard: restored.shard })
        break
      }
      case "count":
        expect(
          ok(Wire.decodeReply(a.shard.query(Wire.encodeRequest({ type: "count", kind: "kv" })))).body,
        ).toBe(model.size)
        break
      case "mutate":
      case "garbage": {
        let bytes: Uint8Array
        if (op.t === "garbage") bytes = op.bytes
        else {
          const earlier = op.back === undefined ? undefined : sent[sent.length - 1 - op.back]
          bytes =
            earlier?.bytes.slice() ??
            kvRequest(
              "Cas",
              op.key,
              { expected: null, value: op.value },
              { session, seq: seq + 1, ackedBelow: acked },
            )
          const positions = mutablePositions(bytes.length)
          bytes[positions[op.at % positions.length]!]! ^= op.xor
        }
        const before = a.shard.snapshot()
        // A read never changes anything, whatever the bytes.
        a.shard.query(bytes)
        expect(a.shard.snapshot()).toEqual(before)
        // Through the log, on a scratch copy: a rejected request changes nothing.
        const scratch = new KvStateMachine()
        scratch.restore(before)
        const reply = scratch.apply(bytes, a.index + 1)
        expect(Either.isRight(Wire.decodeReply(reply))).toBe(true)
        if (statusOf(reply) === Wire.ReplyStatus.SystemError) expect(scratch.snapshot()).toEqual(before)
        break
      }
    }
  }
  expect(a.shard.snapshot()).toEqual(b.shard.snapshot())
  expect(a.shard.entityCount).toBe(model.size)
}

describe("KV shard against a Map model", () => {
  it("agrees on random command sequences with retries, restores, scans and corrupt input", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 150, size: "max" }), (ops) => run(ops)),
      { numRuns: 100 },
    )
  })
})
