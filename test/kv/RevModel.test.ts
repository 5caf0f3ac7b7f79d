/**
 * Model-based test of the revisioned KV shard against a reference KV that keeps every
 * revision: random transactions, puts, deletes, compare-and-sets, leases (grant, keep-alive,
 * revoke, leader expiry), reads at past revisions, event reads, time passing (compaction by age)
 * and snapshot/restore. A second replica applies the same log and must produce byte-identical
 * snapshots.
 */
import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { Compare, Event, KeyValue, TxnOp, TxnOpResult } from "../../shards/kv/KvRev.js"
import { KvStateMachine } from "../../shards/kv/KvStateMachine.js"
import { EntityId } from "../../src/runtime/entity/index.js"
import { kvReply, kvRequest, ok } from "./KvHarness.js"
import { RevDriver, utf8 } from "./RevHarness.js"

const RETENTION = { maxRevisions: 8, maxAgeMs: 1_000 }
const ROUTE = utf8("{t}")
const KEYS = ["{t}a", "{t}b", "{t}c", "{t}ab"].map(utf8)
const keyArb = fc.constantFrom(...KEYS)
const valueArb = fc.constantFrom("", "x", "y", "xy").map(utf8)

interface Rec {
  readonly key: Uint8Array
  readonly value: Uint8Array
  readonly createRevision: number
  readonly modRevision: number
  readonly version: number
  readonly lease: number
}

/** The reference: every revision's full state, the event log, leases, compaction by the rule. */
class Model {
  rev = 0
  compacted = 0
  now = new Map<string, Rec>()
  readonly states: Array<Map<string, Rec>> = [new Map()]
  readonly times: Array<readonly [number, number]> = []
  readonly events: Event[] = []
  readonly leases = new Map<number, { ttlMs: number; deadline: number }>()
  lastLease = 0
  private pending: Event[] = []

  put(key: Uint8Array, value: Uint8Array, lease: number): Rec | null {
    const h = EntityId.toHex(key)
    const prev = this.now.get(h) ?? null
    const rec: Rec = {
      key,
      value,
      createRevision: prev?.createRevision ?? this.rev + 1,
      modRevision: this.rev + 1,
      version: (prev?.version ?? 0) + 1,
      lease,
    }
    this.now.set(h, rec)
    this.pending.push({
      type: "put",
      key,
      value,
      revision: this.rev + 1,
      sub: this.pending.length,
      createRevision: rec.createRevision,
      version: rec.version,
      lease,
    })
    return prev
  }

  delete(key: Uint8Array): Rec | null {
    const h = EntityId.toHex(key)
    const prev = this.now.get(h) ?? null
    if (prev === null) return null
    this.now.delete(h)
    this.pending.push({
      type: "delete",
      key,
      value: null,
      revision: this.rev + 1,
      sub: this.pending.length,
      createRevision: 0,
      version: 0,
      lease: 0,
    })
    return prev
  }

  commit(time: number): void {
    if (this.pending.length === 0) return
    this.rev += 1
    this.events.push(...this.pending)
    this.pending = []
    this.states.push(new Map(this.now))
    this.times.push([this.rev, time])
    let target = this.rev - RETENTION.maxRevisions
    for (const [r, t] of this.times) if (t <= time - RETENTION.maxAgeMs) target = Math.max(target, r)
    if (target > this.compacted) this.compacted = Math.min(target, this.rev)
  }

  get(key: Uint8Array): Rec | null {
    return this.now.get(EntityId.toHex(key)) ?? null
  }

  endLease(id: number): void {
    this.leases.delete(id)
    const keys = [...this.now.values()].filter((r) => r.lease === id).map((r) => r.key)
    keys.sort(EntityId.compare)
    for (const k of keys) this.delete(k)
  }

  holds(c: Compare): boolean {
    const r = this.get(c.key)
    const order = (d: number) =>
      c.result === "=" ? d === 0 : c.result === "!=" ? d !== 0 : c.result === "<" ? d < 0 : d > 0
    if (c.target === "value") {
      if (r === null || c.value === null) {
        const same = (r?.value ?? null) === c.value
        return c.result === "=" ? same : c.result === "!=" ? !same : false
      }
      return order(EntityId.compare(r.value, c.value))
    }
    const n = r === null ? 0 : c.target === "lease" ? r.lease : r[c.target]
    return order(n - c.number)
  }
}

const compareArb: fc.Arbitrary<Compare> = fc.oneof(
  fc.record({
    key: keyArb,
    target: fc.constant("value" as const),
    result: fc.constantFrom<"=" | "!=" | "<" | ">">("=", "!=", "<", ">"),
    value: fc.option(valueArb, { nil: null }),
  }),
  fc.record({
    key: keyArb,
    target: fc.constantFrom<"modRevision" | "createRevision" | "version" | "lease">(
      "modRevision",
      "createRevision",
      "version",
      "lease",
    ),
    result: fc.constantFrom<"=" | "!=" | "<" | ">">("=", "!=", "<", ">"),
    number: fc.nat(12),
  }),
)

const txnOpArb: fc.Arbitrary<TxnOp> = fc.oneof(
  fc.record({ op: fc.constant("put" as const), key: keyArb, value: valueArb, lease: fc.constant(0) }),
  fc.record({ op: fc.constant("delete" as const), key: keyArb }),
  fc.record({ op: fc.constant("get" as const), key: keyArb }),
)

const stepArb = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant("txn" as const),
      compare: fc.array(compareArb, { maxLength: 3 }),
      success: fc.array(txnOpArb, { maxLength: 3 }),
      failure: fc.array(txnOpArb, { maxLength: 2 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("put" as const), key: keyArb, value: valueArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("delete" as const), key: keyArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("cas" as const),
      key: keyArb,
      expected: fc.option(valueArb, { nil: null }),
      value: fc.option(valueArb, { nil: null }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("read" as const),
      key: keyArb,
      back: fc.integer({ min: -2, max: 12 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("events" as const),
      back: fc.integer({ min: -1, max: 12 }),
      limit: fc.integer({ min: 1, max: 5 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 700 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ t: "restore" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant("grant" as const), ttlMs: fc.integer({ min: 1, max: 900 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("leasePut" as const),
      key: keyArb,
      value: valueArb,
      pick: fc.nat(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("keepAlive" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("revoke" as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("expire" as const), pick: fc.nat() }) },
)

type Step = typeof stepArb extends fc.Arbitrary<infer S> ? S : never

const asKv = (r: Rec | null): KeyValue | null => (r === null ? null : { ...r })

const runTxn = (model: Model, step: Extract<Step, { t: "txn" }>, time: number) => {
  const succeeded = step.compare.every((c) => model.holds(c))
  const results: TxnOpResult[] = []
  for (const o of succeeded ? step.success : step.failure) {
    if (o.op === "get") results.push({ op: "get", kv: asKv(model.get(o.key)) })
    else if (o.op === "delete") results.push({ op: "delete", prev: asKv(model.delete(o.key)) })
    else results.push({ op: "put", prev: asKv(model.put(o.key, o.value, 0)), lease: 0 })
  }
  model.commit(time)
  return { succeeded, revision: model.rev, results }
}

const pickLease = (model: Model, pick: number): number => {
  const ids = [...model.leases.keys()]
  // Sometimes a lease that does not exist.
  return ids.length === 0 || pick % 5 === 0 ? model.lastLease + 100 : ids[pick % ids.length]!
}

const runStep = (model: Model, a: RevDriver, b: RevDriver, step: Step) => {
  const both = <K extends Parameters<RevDriver["command"]>[0]>(op: K, key: Uint8Array, payload: object) => {
    const ra = a.command(op, key, payload)
    b.command(op, key, payload)
    return ra
  }
  const bothBasic = (op: "Put" | "Delete" | "Cas", key: Uint8Array, payload: object) => {
    const bytes = kvRequest(op, key, payload)
    a.index++
    b.index++
    const stamped = new Uint8Array(bytes)
    new DataView(stamped.buffer).setBigUint64(3, BigInt(a.time))
    const reply = a.shard.apply(stamped, a.index)
    expect(b.shard.apply(stamped, b.index)).toEqual(reply)
    return ok(kvReply(op, reply))
  }
  switch (step.t) {
    case "txn": {
      const expected = runTxn(model, step, a.time)
      expect(ok(both("Txn", ROUTE, step))).toEqual(expected)
      break
    }
    case "put": {
      const created = model.put(step.key, step.value, 0) === null
      model.commit(a.time)
      expect(bothBasic("Put", step.key, { value: step.value })).toEqual({ created })
      break
    }
    case "delete": {
      const deleted = model.delete(step.key) !== null
      model.commit(a.time)
      expect(bothBasic("Delete", step.key, {})).toEqual({ deleted })
      break
    }
    case "cas": {
      const current = model.get(step.key)
      const same =
        current === null || step.expected === null
          ? current === step.expected
          : EntityId.equals(current.value, step.expected)
      if (same) {
        if (step.value === null) model.delete(step.key)
        else model.put(step.key, step.value, current?.lease ?? 0)
        model.commit(a.time)
      }
      expect(bothBasic("Cas", step.key, { expected: step.expected, value: step.value })).toEqual(
        same ? { succeeded: true } : { succeeded: false, current: current?.value ?? null },
      )
      break
    }
    case "read": {
      const at = model.rev - step.back
      const reply = a.query("Read", step.key, { revision: step.back === -2 ? null : Math.max(0, at) })
      const rev = step.back === -2 ? model.rev : Math.max(0, at)
      if (rev < model.compacted)
        expect(reply).toEqual(
          Either.left(expect.objectContaining({ _tag: "Compacted", compacted: model.compacted })),
        )
      else if (rev > model.rev)
        expect(reply).toEqual(
          Either.left(expect.objectContaining({ _tag: "FutureRevision", current: model.rev })),
        )
      else
        expect(ok(reply)).toEqual({
          revision: model.rev,
          kv: asKv(model.states[rev]!.get(EntityId.toHex(step.key)) ?? null),
        })
      break
    }
    case "events": {
      const from = Math.max(0, model.rev - step.back)
      const reply = a.query("Events", ROUTE, { from, prefix: utf8("{t}a"), limit: step.limit })
      if (Math.max(from, 1) <= model.compacted) {
        expect(reply).toEqual(Either.left(expect.objectContaining({ _tag: "Compacted" })))
        break
      }
      const page = ok(reply)
      const matching = model.events.filter(
        (e) => e.revision >= from && EntityId.hasPrefix(e.key, utf8("{t}a")),
      )
      // Whole revisions, in order, a prefix of the matching events; `next` continues after them.
      expect(page.events).toEqual(matching.slice(0, page.events.length))
      const rest = matching.slice(page.events.length)
      if (rest.length > 0) expect(rest[0]!.revision).toBeGreaterThanOrEqual(page.next)
      else expect(page.next).toBeGreaterThan(page.events.at(-1)?.revision ?? from - 1)
      if (page.events.length > 0 && rest.length > 0)
        expect(rest[0]!.revision).not.toBe(page.events.at(-1)!.revision)
      // A page ends at the first revision boundary at or past the limit.
      const last = page.events.at(-1)?.revision
      expect(page.events.filter((e) => e.revision !== last).length).toBeLessThan(step.limit)
      break
    }
    case "tick":
      a.time += step.ms
      b.time += step.ms
      break
    case "restore": {
      const snapshot = a.shard.snapshot()
      expect(b.shard.snapshot()).toEqual(snapshot)
      const fresh = new KvStateMachine({ retention: RETENTION })
      fresh.restore(snapshot)
      expect(fresh.snapshot()).toEqual(snapshot)
      a.shard = fresh
      break
    }
    case "grant": {
      const id = Math.max(a.index + 1, model.lastLease + 1)
      model.lastLease = id
      model.leases.set(id, { ttlMs: step.ttlMs, deadline: a.time + step.ttlMs })
      expect(ok(both("LeaseGrant", ROUTE, { ttlMs: step.ttlMs }))).toEqual({ lease: id, ttlMs: step.ttlMs })
      break
    }
    case "leasePut": {
      const lease = pickLease(model, step.pick)
      const txn = {
        compare: [],
        success: [{ op: "put", key: step.key, value: step.value, lease }],
        failure: [],
      }
      const reply = both("Txn", ROUTE, txn)
      if (!model.leases.has(lease)) {
        expect(reply).toEqual(Either.left(expect.objectContaining({ _tag: "LeaseNotFound", lease })))
        break
      }
      const prev = model.put(step.key, step.value, lease)
      model.commit(a.time)
      expect(ok(reply)).toEqual({
        succeeded: true,
        revision: model.rev,
        results: [{ op: "put", prev: asKv(prev), lease }],
      })
      break
    }
    case "keepAlive": {
      const lease = pickLease(model, step.pick)
      const l = model.leases.get(lease)
      const reply = both("LeaseKeepAlive", ROUTE, { lease })
      if (l === undefined) expect(Either.isLeft(reply)).toBe(true)
      else {
        l.deadline = a.time + l.ttlMs
        expect(ok(reply)).toEqual({ ttlMs: l.ttlMs })
      }
      break
    }
    case "revoke": {
      const lease = pickLease(model, step.pick)
      const reply = both("LeaseRevoke", ROUTE, { lease })
      if (!model.leases.has(lease)) {
        expect(Either.isLeft(reply)).toBe(true)
        break
      }
      const deleted = [...model.now.values()].filter((r) => r.lease === lease).length
      model.endLease(lease)
      model.commit(a.time)
      expect(ok(reply)).toEqual({ revision: model.rev, deleted })
      break
    }
    case "expire": {
      const candidates = [pickLease(model, step.pick), pickLease(model, step.pick + 1)]
      const expired: number[] = []
      for (const id of candidates) {
        const l = model.leases.get(id)
        if (l === undefined || l.deadline > a.time || expired.includes(id)) continue
        model.endLease(id)
        expired.push(id)
      }
      model.commit(a.time)
      expect(ok(both("LeaseExpire", ROUTE, { leases: candidates }))).toEqual({ expired, revision: model.rev })
      break
    }
  }
}

describe("revisioned KV shard against a reference KV with revisions", () => {
  it("agrees on random transactions, leases, past reads, events, compaction and restores", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 60 }), (steps) => {
        const model = new Model()
        const a = new RevDriver(new KvStateMachine({ retention: RETENTION }))
        const b = new RevDriver(new KvStateMachine({ retention: RETENTION }))
        for (const step of steps) runStep(model, a, b, step)
        expect(a.shard.snapshot()).toEqual(b.shard.snapshot())
        expect(a.shard.revision).toBe(model.rev)
        expect(a.shard.entityCount).toBe(model.now.size)
      }),
      { numRuns: 300 },
    )
  })

  it("refuses a transaction whose keys span hash slots, changing nothing", () => {
    const d = new RevDriver(new KvStateMachine())
    const reply = d.command("Txn", utf8("{t}a"), {
      compare: [],
      success: [
        { op: "put", key: utf8("{t}a"), value: utf8("1") },
        { op: "put", key: utf8("other"), value: utf8("2") },
      ],
      failure: [],
    })
    expect(reply).toEqual(Either.left(expect.objectContaining({ _tag: "CrossSlot", key: '"other"' })))
    expect(d.shard.revision).toBe(0)
    expect(d.shard.entityCount).toBe(0)
    expect(ok(d.query("Read", utf8("{t}a"), { revision: null })).kv).toBeNull()
  })

  it("keeps the snapshot bounded by the retention under a long write stream", () => {
    const d = new RevDriver(new KvStateMachine({ retention: { maxRevisions: 100, maxAgeMs: 60_000 } }))
    const value = new Uint8Array(100)
    let sizeAt2000 = 0
    for (let i = 1; i <= 6000; i++) {
      d.time += 1
      ok(
        d.command("Txn", ROUTE, {
          compare: [],
          success: [{ op: "put", key: KEYS[i % 3]!, value }],
          failure: [],
        }),
      )
      if (i === 2000) sizeAt2000 = d.shard.snapshot().length
    }
    const size = d.shard.snapshot().length
    expect(size).toBeLessThan(100 * 200)
    expect(size).toBeLessThanOrEqual(sizeAt2000 + 200)
    expect(ok(d.query("Read", KEYS[0]!, { revision: 5900 })).kv?.modRevision).toBe(5898)
    expect(d.query("Read", KEYS[0]!, { revision: 5899 })).toEqual(
      Either.left(expect.objectContaining({ _tag: "Compacted" })),
    )
  })
})
