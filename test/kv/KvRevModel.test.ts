/**
 * The revision model of the KV simulation (src/testing/KvRevModel.ts) against the real shard:
 * random transactions, reads and CAS by revision applied to a `KvStateMachine` and to the model
 * give the same answers (so a linearizability check with the model checks the shard's rules,
 * not a model of other rules); and histories with a lost, repeated or stale answer are refused.
 */
import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { KvStateMachine } from "../../shards/kv/KvStateMachine.js"
import {
  type RevInput,
  type RevOutput,
  type RevState,
  type RevTxnOp,
  revModel,
  stepRev,
} from "../../src/testing/KvRevModel.js"
import { checkLinearizable, type Operation } from "../../src/testing/Linearizability.js"
import { RevDriver, utf8 } from "./RevHarness.js"

const text = (b: Uint8Array) => new TextDecoder().decode(b)
type Kv = { value: Uint8Array; createRevision: number; modRevision: number; version: number } | null
const rec = (kv: Kv) =>
  kv === null
    ? null
    : { value: text(kv.value), create: kv.createRevision, mod: kv.modRevision, version: kv.version }

/** Runs `input` on the real shard; the answer in the model's terms. */
const onShard = (d: RevDriver, input: RevInput): RevOutput => {
  const b = (k: string) => utf8(k)
  if (input.op === "read") {
    const r = d.query("Read", b(input.key), { revision: null })
    if (Either.isLeft(r)) throw new Error(String(r.left))
    const v = r.right as { revision: number; kv: Kv }
    return { op: "read", revision: v.revision, kv: rec(v.kv) }
  }
  const ops = (list: ReadonlyArray<RevTxnOp>) =>
    list.map((o) =>
      o.op === "put" ? { op: "put", key: b(o.key), value: b(o.value!) } : { op: o.op, key: b(o.key) },
    )
  const txn =
    input.op === "txn"
      ? {
          compare: input.compare.map((c) =>
            c.target === "value"
              ? { ...c, key: b(c.key), value: c.value === null ? null : b(c.value) }
              : { ...c, key: b(c.key) },
          ),
          success: ops(input.success),
          failure: ops(input.failure),
        }
      : {
          compare: [{ key: b(input.key), target: "modRevision", result: "=", number: input.modRevision }],
          success: ops([
            input.value === null
              ? { op: "delete", key: input.key }
              : { op: "put", key: input.key, value: input.value },
          ]),
          failure: ops([{ op: "get", key: input.key }]),
        }
  const r = d.command("Txn", b(input.op === "txn" ? input.success[0]!.key : input.key), txn)
  if (Either.isLeft(r)) throw new Error(String(r.left))
  const v = r.right as {
    succeeded: boolean
    revision: number
    results: Array<{ op: string; prev?: Kv; kv?: Kv }>
  }
  if (input.op === "casRev")
    return v.succeeded
      ? { op: "casRev", ok: true, revision: v.revision }
      : { op: "casRev", ok: false, current: rec(v.results[0]!.kv ?? null)?.value ?? null }
  return {
    op: "txn",
    succeeded: v.succeeded,
    revision: v.revision,
    results: v.results.map((x) =>
      x.op === "get"
        ? { op: "get", kv: rec(x.kv ?? null) }
        : { op: x.op as "put" | "delete", prev: rec(x.prev ?? null) },
    ),
  }
}

const key = fc.constantFrom("{s}a", "{s}b", "{s}c")
const value = fc.constantFrom("x", "y", "z")
const op = fc.oneof(
  fc.record({ op: fc.constant("put" as const), key, value }),
  fc.record({ op: fc.constant("delete" as const), key }),
  fc.record({ op: fc.constant("get" as const), key }),
)
const result = fc.constantFrom("=" as const, "!=" as const, "<" as const, ">" as const)
const compare = fc.oneof(
  fc.record({ key, target: fc.constant("value" as const), result, value: fc.option(value, { nil: null }) }),
  fc.record({
    key,
    target: fc.constantFrom("modRevision" as const, "createRevision" as const, "version" as const),
    result,
    number: fc.nat(8),
  }),
)
const input: fc.Arbitrary<RevInput> = fc.oneof(
  fc.record({ op: fc.constant("read" as const), shard: fc.constant("s"), key }),
  fc.record({
    op: fc.constant("txn" as const),
    shard: fc.constant("s"),
    compare: fc.array(compare, { maxLength: 2 }),
    success: fc.array(op, { minLength: 1, maxLength: 3 }),
    failure: fc.array(op, { maxLength: 2 }),
  }),
  fc.record({
    op: fc.constant("casRev" as const),
    shard: fc.constant("s"),
    key,
    modRevision: fc.nat(8),
    value: fc.option(value, { nil: null }),
  }),
)

const canonical = (o: RevOutput) => JSON.stringify(o)

describe("KV revision model", () => {
  it("answers as the real shard does", () => {
    fc.assert(
      fc.property(fc.array(input, { maxLength: 40 }), (inputs) => {
        const d = new RevDriver(new KvStateMachine())
        let s: RevState = revModel.init
        for (const i of inputs) {
          const real = onShard(d, i)
          const m = stepRev(s, i)
          expect(canonical(m.output)).toBe(canonical(real))
          s = m.state
        }
      }),
      { numRuns: 300 },
    )
  })

  const op2 = (
    client: number,
    i: RevInput,
    o: RevOutput | undefined,
    at: [number, number],
  ): Operation<RevInput, RevOutput> => ({ client, input: i, output: o, invokedAt: at[0], completedAt: at[1] })
  const put = (v: string): RevInput => ({
    op: "txn",
    shard: "s",
    compare: [],
    success: [{ op: "put", key: "k", value: v }],
    failure: [],
  })
  const read: RevInput = { op: "read", shard: "s", key: "k" }
  const putOut: RevOutput = { op: "txn", succeeded: true, revision: 1, results: [{ op: "put", prev: null }] }

  it("accepts a correct history and refuses a stale read, a repeated write and a wrong revision", () => {
    const good = [
      op2(1, put("a"), putOut, [1, 2]),
      op2(2, read, { op: "read", revision: 1, kv: { value: "a", create: 1, mod: 1, version: 1 } }, [3, 4]),
    ]
    expect(checkLinearizable(revModel, good).ok).toBe(true)
    // The read starts after the write completed, and does not see it.
    const stale = [good[0]!, op2(2, read, { op: "read", revision: 0, kv: null }, [3, 4])]
    expect(checkLinearizable(revModel, stale).ok).toBe(false)
    // The write applied twice: a read sees version 2 of one acknowledged put.
    const twice = [
      good[0]!,
      op2(2, read, { op: "read", revision: 2, kv: { value: "a", create: 1, mod: 2, version: 2 } }, [3, 4]),
    ]
    expect(checkLinearizable(revModel, twice).ok).toBe(false)
    // A write whose outcome is unknown may have happened, or not.
    const unknown = [op2(1, put("a"), undefined, [1, Number.POSITIVE_INFINITY]), ...stale.slice(1)]
    expect(checkLinearizable(revModel, unknown).ok).toBe(true)
    const wrongRevision = [op2(1, put("a"), { ...putOut, revision: 2 }, [1, 2])]
    expect(checkLinearizable(revModel, wrongRevision).ok).toBe(false)
  })
})
