/**
 * The Counter example, through its shard state machine (as a replica runs it) and through
 * its typed client over the in-process sender.
 */
import { Effect, Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Counter, CounterOverflow } from "../../../examples/counter/Counter.js"
import {
  EntityClient,
  EntityId,
  MemorySender,
  ShardStateMachine,
  Wire,
} from "../../../src/runtime/entity/index.js"

const command = (operation: "Add" | "Reset", id: string, payload: object, stamp?: Wire.SessionStamp) =>
  EntityClient.encodeCall(
    {
      kind: "Counter",
      operation,
      type: "command",
      entityId: EntityId.fromString(id),
      slot: EntityId.slotOf(EntityId.fromString(id)),
      payload: Either.getOrThrow(EntityClient.encodePayload(Counter, operation, payload as never)),
      staleRead: false,
    },
    stamp,
  )
const get = (shard: ShardStateMachine.ShardStateMachine, id: string) =>
  Either.getOrThrow(
    EntityClient.decodeReply(
      Counter,
      "Get",
      shard.query(
        EntityClient.encodeCall({
          kind: "Counter",
          operation: "Get",
          type: "query",
          entityId: EntityId.fromString(id),
          slot: 0,
          payload: Either.getOrThrow(EntityClient.encodePayload(Counter, "Get", {})),
          staleRead: false,
        }),
      ),
    ),
  )

describe("Counter example", () => {
  it("adds, resets and reads per entity", () => {
    const shard = ShardStateMachine.ShardStateMachine.make(Counter)
    expect(EntityClient.decodeReply(Counter, "Add", shard.apply(command("Add", "a", { by: 5 }), 1))).toEqual(
      Either.right(5),
    )
    expect(EntityClient.decodeReply(Counter, "Add", shard.apply(command("Add", "a", { by: -2 }), 2))).toEqual(
      Either.right(3),
    )
    shard.apply(command("Add", "b", { by: 7 }), 3)
    expect([get(shard, "a"), get(shard, "b"), get(shard, "c")]).toEqual([3, 7, 0])
    expect(EntityClient.decodeReply(Counter, "Reset", shard.apply(command("Reset", "a", {}), 4))).toEqual(
      Either.right(3),
    )
    // A counter back at 0 is in the initial state: the shard no longer stores it.
    expect(shard.entityCount).toBe(1)
  })

  it("fails with CounterOverflow and keeps the value", () => {
    const shard = ShardStateMachine.ShardStateMachine.make(Counter)
    shard.apply(command("Add", "a", { by: Number.MAX_SAFE_INTEGER }), 1)
    const reply = EntityClient.decodeReply(Counter, "Add", shard.apply(command("Add", "a", { by: 1 }), 2))
    expect(reply).toEqual(Either.left(new CounterOverflow({ value: Number.MAX_SAFE_INTEGER, by: 1 })))
    expect(get(shard, "a")).toBe(Number.MAX_SAFE_INTEGER)
  })

  it("counts every add exactly once under retries, and replicas agree byte for byte", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            id: fc.constantFrom("a", "b", "c"),
            by: fc.integer({ min: -5, max: 5 }),
            retries: fc.nat(2),
          }),
          {
            maxLength: 60,
            size: "max",
          },
        ),
        (adds) => {
          const replicas = [
            ShardStateMachine.ShardStateMachine.make(Counter),
            ShardStateMachine.ShardStateMachine.make(Counter),
          ]
          let index = 0
          const applyAll = (bytes: Uint8Array) => {
            index++
            const replies = replicas.map((r) => r.apply(bytes, index))
            expect(replies[1]).toEqual(replies[0])
            return replies[0]!
          }
          const session = Either.getOrThrow(
            Wire.decodeReply(applyAll(Wire.encodeRequest({ type: "openSession", kind: "Counter" }))),
          ).body as number
          const model = new Map<string, number>()
          adds.forEach(({ id, by, retries }, i) => {
            const bytes = command("Add", id, { by }, { session, seq: i + 1, ackedBelow: i + 1 })
            const first = applyAll(bytes)
            for (let r = 0; r < retries; r++) expect(applyAll(bytes)).toEqual(first)
            model.set(id, (model.get(id) ?? 0) + by)
          })
          for (const id of ["a", "b", "c"]) expect(get(replicas[0]!, id)).toBe(model.get(id) ?? 0)
          expect(replicas[0]!.snapshot()).toEqual(replicas[1]!.snapshot())
        },
      ),
      { numRuns: 100 },
    )
  })

  it("works through the typed client", async () => {
    const program = Effect.gen(function* () {
      const counter = Counter.client("user-42")
      yield* counter.Add({ by: 1 })
      yield* counter.Add({ by: 41 })
      const overflow = yield* Effect.flip(counter.Add({ by: Number.MAX_SAFE_INTEGER }))
      expect(overflow).toBeInstanceOf(CounterOverflow)
      return yield* counter.Get()
    })
    expect(await Effect.runPromise(program.pipe(Effect.provide(MemorySender.layer([Counter]))))).toBe(42)
  })
})
