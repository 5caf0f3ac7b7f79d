import { Either, Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  Cbor,
  EntityClient,
  EntityId,
  EntityKind,
  ShardScan,
  ShardSnapshot,
  ShardStateMachine,
  Wire,
} from "../../src/runtime/entity/index.js"

class Refused extends Schema.TaggedError<Refused>()("Refused", { why: Schema.String }) {}

/** A kind whose operations exercise every outcome of the generic machinery. */
const Probe = EntityKind.make("Probe", {
  state: Schema.Struct({ items: Schema.Array(Schema.String), at: Schema.Number }),
  initial: { items: [], at: 0 },
  commands: {
    Push: { payload: { item: Schema.String }, success: Schema.Number },
    Clear: {},
    Refuse: { failure: Refused },
    Throw: {},
    BadState: {},
    BadReply: { success: Schema.Number },
    BadFailure: { failure: Refused },
    NoState: {},
    Surrogate: {},
  },
  queries: {
    Items: { success: Schema.Array(Schema.String) },
    Ctx: { success: Schema.Struct({ exists: Schema.Boolean, id: Schema.String }) },
    QueryThrow: {},
  },
}).handlers({
  Push: (s, { item }, ctx) => ({
    state: { items: [...s.items, item], at: ctx.time },
    reply: s.items.length + 1,
  }),
  Clear: () => ({ state: { items: [], at: 0 } }),
  Refuse: () => EntityKind.fail(new Refused({ why: "no" })),
  Throw: () => {
    throw new Error("boom")
  },
  BadState: () => ({ state: { items: 5 } as never }),
  BadReply: (s) => ({ state: s, reply: "x" as never }),
  BadFailure: () => EntityKind.fail({ nope: 1 } as never),
  NoState: () => 42 as never,
  Surrogate: () => ({ state: { items: ["\ud800"], at: 0 } }),
  Items: (s) => s.items,
  Ctx: (_, __, ctx) => ({ exists: ctx.exists, id: EntityId.toStringLenient(ctx.entityId) }),
  QueryThrow: () => {
    throw new Error("query boom")
  },
})

type ProbeOp = EntityKind.OperationName<typeof Probe>

const call = (operation: ProbeOp, id: string | Uint8Array, payload: object = {}) => ({
  kind: "Probe",
  operation,
  type: Probe.operations.get(operation)!.type,
  entityId: EntityId.make(id),
  slot: 0,
  payload: Either.getOrThrow(EntityClient.encodePayload(Probe, operation, payload as never)),
  staleRead: false,
})
const req = (operation: ProbeOp, id: string | Uint8Array, payload: object = {}, time = 0) =>
  Wire.stampTime(EntityClient.encodeCall(call(operation, id, payload)), time)
const tagOf = (reply: Uint8Array) => {
  const env = Either.getOrThrow(Wire.decodeReply(reply))
  if (env.status === Wire.ReplyStatus.Success) return "Success"
  if (env.status === Wire.ReplyStatus.Failure) return `Failure:${(env.body as { _tag: string })._tag}`
  return Either.getOrThrow(Wire.decodeEntityErrorBody(env.body))._tag
}
const make = () => ShardStateMachine.ShardStateMachine.make(Probe)

describe("ShardStateMachine", () => {
  it("applies commands, answers queries, and forgets entities back in the initial state", () => {
    const m = make()
    expect(EntityClient.decodeReply(Probe, "Push", m.apply(req("Push", "a", { item: "x" }), 1))).toEqual(
      Either.right(1),
    )
    expect(EntityClient.decodeReply(Probe, "Push", m.apply(req("Push", "a", { item: "y" }), 2))).toEqual(
      Either.right(2),
    )
    expect(EntityClient.decodeReply(Probe, "Items", m.query(req("Items", "a")))).toEqual(
      Either.right(["x", "y"]),
    )
    expect(EntityClient.decodeReply(Probe, "Ctx", m.query(req("Ctx", "a")))).toEqual(
      Either.right({ exists: true, id: "a" }),
    )
    expect(EntityClient.decodeReply(Probe, "Ctx", m.query(req("Ctx", "b")))).toEqual(
      Either.right({ exists: false, id: "b" }),
    )
    expect(m.entityCount).toBe(1)
    expect(tagOf(m.apply(req("Clear", "a"), 3))).toBe("Success")
    expect(m.entityCount).toBe(0)
    expect(m.stateOf(EntityId.fromString("a"))).toEqual({ items: [], at: 0 })
  })

  it("answers declared failures and handler defects without changing anything", () => {
    const m = make()
    m.apply(req("Push", "a", { item: "x" }), 1)
    const before = m.snapshot()
    const cases: Array<[ProbeOp, string]> = [
      ["Refuse", "Failure:Refused"],
      ["Throw", "HandlerDefect"],
      ["BadState", "HandlerDefect"],
      ["BadReply", "HandlerDefect"],
      ["BadFailure", "HandlerDefect"],
      ["NoState", "HandlerDefect"],
      ["Surrogate", "HandlerDefect"],
    ]
    for (const [op, tag] of cases) {
      expect(tagOf(m.apply(req(op, "a"), 2)), op).toBe(tag)
      expect(m.snapshot(), op).toEqual(before)
    }
    expect(tagOf(m.query(req("QueryThrow", "a")))).toBe("HandlerDefect")
    const defect = EntityClient.decodeReply(Probe, "Throw", m.apply(req("Throw", "a"), 3))
    expect(defect).toEqual(Either.left(expect.objectContaining({ reason: "the handler threw Error: boom" })))
  })

  it("caches outcomes in a session but leaves it untouched on an EntityError", () => {
    const m = make()
    const session = Either.getOrThrow(
      Wire.decodeReply(m.apply(Wire.encodeRequest({ type: "openSession", kind: "Probe" }), 1)),
    ).body as number
    const inSession = (op: ProbeOp, seq: number, ackedBelow: number, payload: object = {}) =>
      EntityClient.encodeCall(call(op, "a", payload), { session, seq, ackedBelow })
    const refused = m.apply(inSession("Refuse", 1, 0), 2)
    expect(tagOf(refused)).toBe("Failure:Refused")
    expect(m.apply(inSession("Refuse", 1, 0), 3)).toEqual(refused)
    const before = m.snapshot()
    // A defect, a bad payload and a stale seq are not recorded, not even their acknowledgement.
    expect(tagOf(m.apply(inSession("Throw", 2, 2), 4))).toBe("HandlerDefect")
    const badPayload = EntityClient.encodeCall(
      { ...call("Push", "a", { item: "x" }), payload: new Cbor.Raw(Cbor.encode({ item: 1 })) },
      { session, seq: 2, ackedBelow: 2 },
    )
    expect(tagOf(m.apply(badPayload, 5))).toBe("InvalidPayload")
    expect(tagOf(m.apply(inSession("Push", 2, 3, { item: "x" }), 6))).toBe("MalformedRequest")
    const otherSession = EntityClient.encodeCall(call("Push", "a", { item: "x" }), {
      session: session + 1,
      seq: 1,
      ackedBelow: 0,
    })
    expect(tagOf(m.apply(otherSession, 7))).toBe("SessionExpired")
    expect(m.snapshot()).toEqual(before)
    // The seq that failed with an EntityError is still free: its retry is decided afresh.
    expect(tagOf(m.apply(inSession("Push", 2, 2, { item: "x" }), 8))).toBe("Success")
    expect(tagOf(m.apply(inSession("Refuse", 1, 1), 9))).toBe("StaleSequence")
  })

  it("refuses requests it cannot run, with the error that says why", () => {
    const m = make()
    const wrongKind = Wire.encodeRequest({ type: "openSession", kind: "Other" })
    expect(tagOf(m.apply(wrongKind, 1))).toBe("WrongKind")
    expect(tagOf(m.query(Wire.encodeRequest({ type: "count", kind: "Other" })))).toBe("WrongKind")
    const unknown = Wire.encodeRequest({
      type: "command",
      kind: "Probe",
      operation: "Nope",
      entityId: EntityId.fromString("a"),
      payload: {},
      session: 0,
      seq: 0,
      ackedBelow: 0,
    })
    expect(tagOf(m.apply(unknown, 2))).toBe("UnknownOperation")
    // A query's name in a command envelope, and a command's name in a query envelope.
    expect(tagOf(m.apply(EntityClient.encodeCall({ ...call("Items", "a"), type: "command" }), 3))).toBe(
      "UnknownOperation",
    )
    expect(
      tagOf(m.query(EntityClient.encodeCall({ ...call("Push", "a", { item: "x" }), type: "query" }))),
    ).toBe("UnknownOperation")
    expect(tagOf(m.apply(req("Push", new Uint8Array(), { item: "x" }), 4))).toBe("InvalidEntityId")
    expect(
      tagOf(m.apply(req("Push", new Uint8Array(EntityId.MAX_ENTITY_ID_BYTES + 1), { item: "x" }), 5)),
    ).toBe("InvalidEntityId")
    const badPayload = EntityClient.encodeCall({
      ...call("Push", "a", { item: "x" }),
      payload: new Cbor.Raw(Cbor.encode({ item: 1 })),
    })
    expect(tagOf(m.apply(badPayload, 6))).toBe("InvalidPayload")
    expect(tagOf(m.query(req("Push", "a", { item: "x" })))).toBe("NotAQuery")
    expect(tagOf(m.query(Wire.encodeRequest({ type: "openSession", kind: "Probe" })))).toBe("NotAQuery")
    expect(tagOf(m.query(Wire.encodeRequest({ type: "closeSession", kind: "Probe", session: 1 })))).toBe(
      "NotAQuery",
    )
    expect(m.entityCount).toBe(0)
    expect(m.sessionCount).toBe(0)
  })

  it("answers reads that come through the log like reads", () => {
    const m = make()
    m.apply(req("Push", "a", { item: "x" }), 1)
    const reads = [
      req("Items", "a"),
      Wire.encodeRequest({ type: "count", kind: "Probe" }),
      ShardScan.encodeRequest(Probe, { limit: 10, values: true }),
    ]
    for (const r of reads) expect(m.apply(r, 2)).toEqual(m.query(r))
  })

  it("keeps a clock from proposer stamps that never goes back, and hands it to handlers", () => {
    const m = make()
    m.apply(req("Push", "a", { item: "x" }, 1000), 1)
    expect(m.time).toBe(1000)
    m.apply(req("Push", "a", { item: "y" }, 400), 2)
    expect(m.time).toBe(1000)
    expect(m.stateOf(EntityId.fromString("a"))).toEqual({ items: ["x", "y"], at: 1000 })
    // A well-formed request that fails still advances the clock; malformed bytes do not.
    m.apply(req("Refuse", "a", {}, 2000), 3)
    expect(m.time).toBe(2000)
    const malformed = Wire.stampTime(Uint8Array.of(1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x1c), 3000)
    expect(tagOf(m.apply(malformed, 4))).toBe("MalformedRequest")
    expect(m.time).toBe(2000)
  })

  it("expires sessions by the proposer's clock and by count", () => {
    const m = ShardStateMachine.ShardStateMachine.make(Probe, { sessions: { ttlMs: 1000, maxSessions: 2 } })
    const open = (time: number, index: number) =>
      Either.getOrThrow(
        Wire.decodeReply(
          m.apply(Wire.stampTime(Wire.encodeRequest({ type: "openSession", kind: "Probe" }), time), index),
        ),
      ).body as number
    const inSession = (session: number, seq: number, time: number, index: number) =>
      m.apply(
        Wire.stampTime(
          EntityClient.encodeCall(call("Push", "a", { item: "x" }), { session, seq, ackedBelow: 0 }),
          time,
        ),
        index,
      )
    const s1 = open(0, 1)
    expect(tagOf(inSession(s1, 1, 900, 2))).toBe("Success")
    expect(tagOf(inSession(s1, 2, 1900, 3))).toBe("Success")
    expect(tagOf(inSession(s1, 3, 2901, 4))).toBe("SessionExpired")
    const [s2, s3, s4] = [open(3000, 5), open(3000, 6), open(3000, 7)]
    expect(m.sessionCount).toBe(2)
    expect(tagOf(inSession(s2, 1, 3000, 8))).toBe("SessionExpired")
    expect(tagOf(inSession(s3, 1, 3000, 9))).toBe("Success")
    expect(tagOf(inSession(s4, 1, 3000, 10))).toBe("Success")
    const close = Wire.encodeRequest({ type: "closeSession", kind: "Probe", session: s3 })
    expect(Either.getOrThrow(Wire.decodeReply(m.apply(close, 11))).body).toBe(true)
    expect(Either.getOrThrow(Wire.decodeReply(m.apply(close, 12))).body).toBe(false)
  })

  it("restores snapshots exactly and replaces whatever state it had", () => {
    const m = make()
    for (let i = 0; i < 50; i++) m.apply(req("Push", `e${i % 7}`, { item: `v${i}` }, i * 10), i + 1)
    const snapshot = m.snapshot()
    const other = make()
    other.apply(req("Push", "zzz", { item: "old" }), 1)
    other.restore(snapshot)
    expect(other.snapshot()).toEqual(snapshot)
    expect(other.time).toBe(m.time)
    expect(other.entityCount).toBe(7)
    expect(other.stateOf(EntityId.fromString("zzz"))).toEqual({ items: [], at: 0 })
    expect(other.query(req("Items", "e3"))).toEqual(m.query(req("Items", "e3")))
  })

  it("rejects every corruption of a snapshot with SnapshotCorrupt and keeps its state", () => {
    const m = make()
    for (let i = 0; i < 5; i++) m.apply(req("Push", `e${i}`, { item: "v" }), i + 1)
    const snapshot = m.snapshot()
    const target = make()
    target.apply(req("Push", "keep", { item: "me" }), 1)
    const kept = target.snapshot()
    fc.assert(
      fc.property(fc.nat(snapshot.length * 8 - 1), (bit) => {
        const flipped = snapshot.slice()
        flipped[bit >> 3]! ^= 1 << (bit & 7)
        expect(() => target.restore(flipped)).toThrow(ShardSnapshot.SnapshotCorrupt)
        expect(target.snapshot()).toEqual(kept)
      }),
      { numRuns: 300 },
    )
    for (const n of [0, 4, 8, snapshot.length - 1])
      expect(() => target.restore(snapshot.subarray(0, n))).toThrow(/corrupt/)
    expect(target.snapshot()).toEqual(kept)
  })

  it("rejects well-checksummed snapshots whose content is inconsistent", () => {
    const frame = (body: Cbor.CborValue) => {
      const encoded = Cbor.encode(body)
      const out = new Uint8Array(9 + encoded.length)
      out.set([0x46, 0x4c, 0x45, 0x53, 1])
      out.set(encoded, 5)
      new DataView(out.buffer).setUint32(
        5 + encoded.length,
        ShardSnapshot.crc32(out.subarray(0, 5 + encoded.length)),
      )
      return out
    }
    const sessions = [0, []]
    const entity = (id: string, state: Cbor.CborValue) => [EntityId.fromString(id), state]
    const good = { items: ["x"], at: 0 }
    expect(() => make().restore(frame(["Probe", 0, sessions, [entity("a", good)]]))).not.toThrow()
    const cases: Array<[Cbor.CborValue, RegExp]> = [
      [["Other", 0, sessions, []], /kind "Other"/],
      [["Probe", -1, sessions, []], /clock/],
      [["Probe", 0, [0], []], /session table/],
      [["Probe", 0, sessions, [entity("b", good), entity("a", good)]], /ascending/],
      [["Probe", 0, sessions, [entity("a", good), entity("a", good)]], /ascending/],
      [["Probe", 0, sessions, [entity("a", { items: 1, at: 0 })]], /does not decode/],
      [["Probe", 0, sessions, [entity("a", { items: [], at: 0 })]], /initial state/],
      [["Probe", 0, sessions, [[new Uint8Array(), good]]], /empty/],
      [["Probe", 0, sessions], /4-element/],
    ]
    for (const [body, reason] of cases) expect(() => make().restore(frame(body))).toThrow(reason)
    const wrongVersion = frame(["Probe", 0, sessions, []])
    wrongVersion[4] = 2
    expect(() => make().restore(wrongVersion)).toThrow(/version 2/)
  })

  it("pages scans by limit and refuses out-of-range limits", () => {
    const m = make()
    for (const id of ["a", "b", "c"]) m.apply(req("Push", id, { item: id }), 1)
    const page = (after?: Uint8Array) =>
      Either.getOrThrow(
        ShardScan.decodeReply(
          Probe,
          m.query(ShardScan.encodeRequest(Probe, { after, limit: 2, values: false })),
        ),
      )
    const first = page()
    expect(first.entries.map((e) => EntityId.toStringLenient(e.id))).toEqual(["a", "b"])
    expect(first.entries[0]).not.toHaveProperty("state")
    const second = page(first.continuation)
    expect(second.entries.map((e) => EntityId.toStringLenient(e.id))).toEqual(["c"])
    expect(second.continuation).toBeUndefined()
    for (const limit of [0, 10_001])
      expect(tagOf(m.query(ShardScan.encodeRequest(Probe, { limit, values: true })))).toBe("InvalidScan")
  })
})
