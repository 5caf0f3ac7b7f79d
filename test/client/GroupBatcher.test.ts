import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Exit, Fiber } from "effect"
import { type BatcherCounts, make } from "../../src/client/GroupBatcher.js"
import type { GroupId } from "../../src/raft/Ids.js"
import { decodeBatch, encodeBatch, encodeBatchTooLarge } from "../../src/runtime/RequestBatch.js"
import { NoResponders } from "../../src/transport/Bus.js"
import { settle, waitingBus } from "./support/WaitingBus.js"

const bytes = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)
const G = 7 as GroupId
const subject = "flotilla.c.group.7"

describe("GroupBatcher", () => {
  it.live("a lone request goes at once, alone, on the group subject", () =>
    Effect.gen(function* () {
      const { bus, sent } = waitingBus()
      const counts: BatcherCounts = { batches: 0, batchedRequests: 0 }
      const b = make(bus, counts, 1)
      const f = yield* Effect.fork(b.send(G, subject, bytes("a"), 1000))
      yield* settle
      expect(sent.map((s) => [s.subject, text(s.data)])).toEqual([[subject, "a"]])
      yield* Deferred.succeed(sent[0]!.answer, bytes("A"))
      expect(text(yield* Fiber.join(f))).toBe("A")
      expect(counts).toEqual({ batches: 0, batchedRequests: 0 })
    }),
  )

  it.live("requests made while one is in flight travel as one batch, each with its own answer", () =>
    Effect.gen(function* () {
      const { bus, sent } = waitingBus()
      const counts: BatcherCounts = { batches: 0, batchedRequests: 0 }
      const b = make(bus, counts, 1)
      const first = yield* Effect.fork(b.send(G, subject, bytes("first"), 1000))
      yield* settle
      const rest = yield* Effect.fork(
        Effect.all(
          ["x", "y", "z"].map((k) => b.send(G, subject, bytes(k), 1000)),
          { concurrency: "unbounded" },
        ),
      )
      yield* settle
      expect(sent).toHaveLength(1)
      yield* Deferred.succeed(sent[0]!.answer, bytes("FIRST"))
      yield* settle
      expect(sent).toHaveLength(2)
      expect(sent[1]!.subject).toBe(`${subject}.batch`)
      const parts = decodeBatch(sent[1]!.data)
      expect(Array.isArray(parts) ? parts.map(text) : parts).toEqual(["x", "y", "z"])
      yield* Deferred.succeed(sent[1]!.answer, encodeBatch([bytes("X"), bytes("Y"), bytes("Z")]))
      expect(text(yield* Fiber.join(first))).toBe("FIRST")
      expect((yield* Fiber.join(rest)).map(text)).toEqual(["X", "Y", "Z"])
      expect(counts).toEqual({ batches: 1, batchedRequests: 3 })
    }),
  )

  it.live("a failed batch fails each of its requests with the bus's error", () =>
    Effect.gen(function* () {
      const { bus, sent } = waitingBus()
      const b = make(bus, { batches: 0, batchedRequests: 0 }, 1)
      const first = yield* Effect.fork(Effect.either(b.send(G, subject, bytes("a"), 1000)))
      yield* settle
      const rest = yield* Effect.fork(
        Effect.all(
          ["b", "c"].map((k) => Effect.either(b.send(G, subject, bytes(k), 1000))),
          { concurrency: "unbounded" },
        ),
      )
      yield* settle
      const none = new NoResponders({ subject, message: "no responders" })
      yield* Deferred.fail(sent[0]!.answer, none)
      yield* settle
      yield* Deferred.fail(sent[1]!.answer, none)
      expect(Either.isLeft(yield* Fiber.join(first))).toBe(true)
      for (const r of yield* Fiber.join(rest)) expect(Either.isLeft(r) && r.left._tag).toBe("NoResponders")
    }),
  )

  it.live("a queued request whose wait passes times out and never leaves", () =>
    Effect.gen(function* () {
      const { bus, sent } = waitingBus()
      const b = make(bus, { batches: 0, batchedRequests: 0 }, 1)
      const first = yield* Effect.fork(b.send(G, subject, bytes("a"), 5000))
      yield* settle
      const queued = yield* Effect.exit(b.send(G, subject, bytes("late"), 20))
      expect(Exit.isFailure(queued) && Exit.causeOption(queued)).toBeTruthy()
      expect(Exit.match(queued, { onFailure: (c) => String(c), onSuccess: () => "" })).toContain(
        "RequestTimeout",
      )
      yield* Deferred.succeed(sent[0]!.answer, bytes("A"))
      yield* Fiber.join(first)
      yield* settle
      expect(sent).toHaveLength(1)
      // The group is idle again: the next request goes alone at once.
      const next = yield* Effect.fork(b.send(G, subject, bytes("n"), 1000))
      yield* settle
      expect(sent.map((s) => s.subject)).toEqual([subject, subject])
      yield* Deferred.succeed(sent[1]!.answer, bytes("N"))
      expect(text(yield* Fiber.join(next))).toBe("N")
    }),
  )

  it.live("an answer too large for one message is asked again one request at a time", () =>
    Effect.gen(function* () {
      const { bus, sent } = waitingBus()
      const b = make(bus, { batches: 0, batchedRequests: 0 }, 1)
      const first = yield* Effect.fork(b.send(G, subject, bytes("a"), 1000))
      yield* settle
      const rest = yield* Effect.fork(
        Effect.all(
          ["b", "c"].map((k) => b.send(G, subject, bytes(k), 1000)),
          { concurrency: "unbounded" },
        ),
      )
      yield* settle
      yield* Deferred.succeed(sent[0]!.answer, bytes("A"))
      yield* settle
      yield* Deferred.succeed(sent[1]!.answer, encodeBatchTooLarge())
      yield* settle
      expect(sent.slice(2).map((s) => [s.subject, text(s.data)])).toEqual([
        [subject, "b"],
        [subject, "c"],
      ])
      yield* Deferred.succeed(sent[2]!.answer, bytes("B"))
      yield* Deferred.succeed(sent[3]!.answer, bytes("C"))
      yield* Fiber.join(first)
      expect((yield* Fiber.join(rest)).map(text)).toEqual(["B", "C"])
    }),
  )

  it.live("a batch closes at the payload limit; the rest follows in the next", () =>
    Effect.gen(function* () {
      // 4096 bytes of margin below the limit leave room for two 1,000-byte requests.
      const { bus, sent } = waitingBus(4096 + 2 + 2 * 1004)
      const b = make(bus, { batches: 0, batchedRequests: 0 }, 1)
      const first = yield* Effect.fork(b.send(G, subject, bytes("a"), 1000))
      yield* settle
      const big = new Uint8Array(1000)
      const rest = yield* Effect.fork(
        Effect.all(
          [1, 2, 3].map(() => b.send(G, subject, big, 1000)),
          { concurrency: "unbounded" },
        ),
      )
      yield* settle
      yield* Deferred.succeed(sent[0]!.answer, bytes("A"))
      yield* settle
      const firstBatch = decodeBatch(sent[1]!.data)
      expect(Array.isArray(firstBatch) && firstBatch.length).toBe(2)
      yield* Deferred.succeed(sent[1]!.answer, encodeBatch([bytes("1"), bytes("2")]))
      yield* settle
      // The third goes alone, on the group subject.
      expect(sent[2]!.subject).toBe(subject)
      yield* Deferred.succeed(sent[2]!.answer, bytes("3"))
      yield* Fiber.join(first)
      expect((yield* Fiber.join(rest)).map(text)).toEqual(["1", "2", "3"])
    }),
  )

  it.live("with room for two messages in flight, requests queued behind one go at the next turn", () =>
    Effect.gen(function* () {
      const { bus, sent } = waitingBus()
      const b = make(bus, { batches: 0, batchedRequests: 0 }, 2)
      yield* Effect.fork(b.send(G, subject, bytes("a"), 1000))
      yield* settle
      const rest = yield* Effect.fork(
        Effect.all(
          ["b", "c"].map((k) => b.send(G, subject, bytes(k), 1000)),
          { concurrency: "unbounded" },
        ),
      )
      yield* settle
      // "a" is still unanswered, and "b" and "c" already travel together.
      expect(sent.map((s) => s.subject)).toEqual([subject, `${subject}.batch`])
      const third = yield* Effect.fork(b.send(G, subject, bytes("d"), 1000))
      yield* settle
      // Two in flight: "d" waits for one of them.
      expect(sent).toHaveLength(2)
      yield* Deferred.succeed(sent[1]!.answer, encodeBatch([bytes("B"), bytes("C")]))
      expect((yield* Fiber.join(rest)).map(text)).toEqual(["B", "C"])
      yield* settle
      expect(sent.map((s) => text(s.data))[2]).toBe("d")
      yield* Deferred.succeed(sent[2]!.answer, bytes("D"))
      expect(text(yield* Fiber.join(third))).toBe("D")
    }),
  )

  it.live("groups do not wait for each other", () =>
    Effect.gen(function* () {
      const { bus, sent } = waitingBus()
      const b = make(bus, { batches: 0, batchedRequests: 0 }, 1)
      yield* Effect.fork(b.send(G, subject, bytes("a"), 1000))
      yield* Effect.fork(b.send(8 as GroupId, "flotilla.c.group.8", bytes("b"), 1000))
      yield* settle
      expect(sent.map((s) => s.subject)).toEqual([subject, "flotilla.c.group.8"])
    }),
  )
})
