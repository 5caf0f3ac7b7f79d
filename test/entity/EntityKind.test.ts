import { Effect, Either, Schema } from "effect"
import { describe, expect, expectTypeOf, it } from "vitest"
import {
  EntityClient,
  EntityError,
  EntityId,
  EntityKind,
  MemorySender,
  ShardStateMachine,
  Wire,
} from "../../src/runtime/entity/index.js"

class Insufficient extends Schema.TaggedError<Insufficient>()("Insufficient", {
  balance: Schema.Number,
  wanted: Schema.Number,
}) {}

/** A small bank account, defined the way applications define kinds. */
const Account = EntityKind.make("Account", {
  state: Schema.Struct({ balance: Schema.NonNegativeInt, history: Schema.Array(Schema.Int) }),
  initial: { balance: 0, history: [] },
  commands: {
    Deposit: { payload: { amount: Schema.Positive.pipe(Schema.int()) }, success: Schema.Int },
    Withdraw: {
      payload: { amount: Schema.Positive.pipe(Schema.int()) },
      success: Schema.Int,
      failure: Insufficient,
    },
    Close: {},
  },
  queries: {
    Balance: { success: Schema.Int },
    Recent: { payload: { n: Schema.Int }, success: Schema.Array(Schema.Int) },
  },
}).handlers({
  Deposit: (s, { amount }) => {
    const balance = s.balance + amount
    return { state: { balance, history: [...s.history, amount] }, reply: balance }
  },
  Withdraw: (s, { amount }) =>
    amount > s.balance
      ? EntityKind.fail(new Insufficient({ balance: s.balance, wanted: amount }))
      : {
          state: { balance: s.balance - amount, history: [...s.history, -amount] },
          reply: s.balance - amount,
        },
  Close: () => ({ state: { balance: 0, history: [] } }),
  Balance: (s) => s.balance,
  Recent: (s, { n }) => s.history.slice(-n),
})

describe("EntityKind", () => {
  it("types clients from the definition", () => {
    const client = Account.client("acct-1")
    expectTypeOf(client.Deposit).parameter(0).toEqualTypeOf<{ readonly amount: number }>()
    expectTypeOf(client.Withdraw).returns.toEqualTypeOf<
      Effect.Effect<number, Insufficient | EntityClient.CallError, EntityClient.EntitySender>
    >()
    expectTypeOf(client.Close).returns.toEqualTypeOf<
      Effect.Effect<void, EntityClient.CallError, EntityClient.EntitySender>
    >()
    expectTypeOf(client.Recent).returns.toEqualTypeOf<
      Effect.Effect<ReadonlyArray<number>, EntityClient.CallError, EntityClient.EntitySender>
    >()
    expectTypeOf<EntityKind.OperationName<typeof Account>>().toEqualTypeOf<
      "Deposit" | "Withdraw" | "Close" | "Balance" | "Recent"
    >()
    expectTypeOf<EntityKind.StateOf<typeof Account>>().toEqualTypeOf<{
      readonly balance: number
      readonly history: ReadonlyArray<number>
    }>()
  })

  it("runs a typed client end to end through the in-process sender", async () => {
    const program = Effect.gen(function* () {
      const acct = Account.client("acct-1")
      expect(yield* acct.Deposit({ amount: 100 })).toBe(100)
      expect(yield* acct.Withdraw({ amount: 30 })).toBe(70)
      const refused = yield* Effect.flip(acct.Withdraw({ amount: 500 }))
      expect(refused).toEqual(new Insufficient({ balance: 70, wanted: 500 }))
      expect(refused).toBeInstanceOf(Insufficient)
      expect(yield* acct.Recent({ n: 5 })).toEqual([100, -30])
      expect(yield* Account.client("acct-2").Balance()).toBe(0)
      // Invalid payloads and ids fail locally, typed, before anything is sent.
      const badAmount = yield* Effect.flip(acct.Deposit({ amount: -5 }))
      expect(badAmount).toBeInstanceOf(EntityError.InvalidPayload)
      const badId = yield* Effect.flip(Account.client(new Uint8Array()).Balance())
      expect(badId).toBeInstanceOf(EntityError.InvalidEntityId)
      yield* acct.Close()
      return yield* acct.Balance()
    })
    expect(await Effect.runPromise(program.pipe(Effect.provide(MemorySender.layer([Account]))))).toBe(0)
  })

  it("fails with EntityUnavailable for a kind the sender does not host", async () => {
    const result = await Effect.runPromise(
      Effect.flip(Account.client("x").Balance()).pipe(Effect.provide(MemorySender.layer([]))),
    )
    expect(result).toBeInstanceOf(EntityClient.EntityUnavailable)
  })

  it("reopens an expired session and applies the command once", async () => {
    const { sender, shards } = MemorySender.make([Account], { sessions: { maxSessions: 1 } })
    const shard = shards.shards.get("Account")!
    const program = Effect.gen(function* () {
      yield* Account.client("a").Deposit({ amount: 1 })
      // Someone else opens a session; ours is evicted (maxSessions 1).
      shard.apply(Wire.encodeRequest({ type: "openSession", kind: "Account" }), 1000)
      return yield* Account.client("a").Deposit({ amount: 2 })
    })
    expect(await Effect.runPromise(Effect.provideService(program, EntityClient.EntitySender, sender))).toBe(3)
  })

  it("encodes payloads and decodes replies for non-Effect clients", () => {
    const raw = Either.getOrThrow(EntityClient.encodePayload(Account, "Deposit", { amount: 5 }))
    const shard = ShardStateMachine.ShardStateMachine.make(Account)
    const request = EntityClient.encodeCall({
      kind: "Account",
      operation: "Deposit",
      type: "command",
      entityId: EntityId.fromString("a"),
      slot: EntityId.slotOf(EntityId.fromString("a")),
      payload: raw,
      staleRead: false,
    })
    expect(EntityClient.decodeReply(Account, "Deposit", shard.apply(request, 1))).toEqual(Either.right(5))
    expect(EntityClient.decodeReply(Account, "Deposit", Uint8Array.of(1))).toEqual(
      Either.left(expect.objectContaining({ _tag: "ReplyUndecodable" })),
    )
    const unknownOp = EntityClient.encodePayload(Account, "Nope" as never, {} as never)
    expect(unknownOp).toEqual(
      Either.left(new EntityError.UnknownOperation({ kind: "Account", operation: "Nope" })),
    )
    expect(() =>
      EntityClient.encodeCall(
        {
          kind: "Account",
          operation: "Deposit",
          type: "command",
          entityId: EntityId.fromString("a"),
          slot: 0,
          payload: raw,
          staleRead: false,
        },
        { session: 1, seq: 0, ackedBelow: 0 },
      ),
    ).toThrow(RangeError)
  })

  it("marks stale-read queries in the header for the runtime", () => {
    const call = {
      kind: "Account",
      operation: "Balance",
      type: "query" as const,
      entityId: EntityId.fromString("a"),
      slot: 0,
      payload: Either.getOrThrow(EntityClient.encodePayload(Account, "Balance", {})),
    }
    expect(Wire.readHeader(EntityClient.encodeCall({ ...call, staleRead: true }))?.flags).toBe(
      Wire.FLAG_STALE_READ,
    )
    expect(Wire.readHeader(EntityClient.encodeCall({ ...call, staleRead: false }))?.flags).toBe(0)
  })

  it("rejects definition mistakes when the module loads", () => {
    const state = Schema.Struct({ n: Schema.Number })
    expect(() => EntityKind.make("bad name", { state, initial: { n: 0 } })).toThrow(/kind name/)
    expect(() => EntityKind.make("K", { state, initial: { n: 0 }, commands: { "a b": {} } })).toThrow(
      /operation name/,
    )
    expect(() =>
      EntityKind.make("K", { state, initial: { n: 0 }, commands: { A: {} }, queries: { A: {} } }),
    ).toThrow(/declared twice/)
    expect(() => EntityKind.make("K", { state, initial: { n: "x" } as never })).toThrow(
      /initial state rejected/,
    )
    const k = EntityKind.make("K", { state, initial: { n: 0 }, commands: { A: {} } })
    expect(() => k.handlers({} as never)).toThrow(/no handler for A/)
    expect(() => k.handlers({ A: () => ({ state: { n: 0 } }), B: () => 1 } as never)).toThrow(
      /matches no operation/,
    )
  })
})
