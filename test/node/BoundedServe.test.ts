/**
 * BoundedServe.ts: at most `concurrency` requests handled at once, the next ones held (in
 * arrival order) until one ends, and a request beyond `maxPending` answered `Overloaded` at once.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer } from "effect"
import { serveBounded } from "../../src/node/BoundedServe.js"
import * as Bus from "../../src/transport/Bus.js"
import * as MemoryBus from "../../src/transport/MemoryBus.js"

const enc = new TextEncoder()
const dec = new TextDecoder()

describe("serveBounded", () => {
  it.live("handles at most `concurrency` at once, holds up to `maxPending`, refuses the rest", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryBus.make()
      const server = Context.get(yield* Layer.build(Bus.layerMemory(memory)), Bus.Bus)
      const client = Context.get(yield* Layer.build(Bus.layerMemory(memory)), Bus.Bus)
      const gate = yield* Deferred.make<void>()
      let active = 0
      let mostActive = 0
      const started: string[] = []
      const stats = yield* serveBounded(
        server,
        "t.bounded",
        { concurrency: 2, maxPending: 4 },
        {
          name: "test endpoint",
          handle: (data) =>
            Effect.gen(function* () {
              active++
              mostActive = Math.max(mostActive, active)
              started.push(dec.decode(data))
              yield* Deferred.await(gate)
              active--
              return enc.encode(`done ${dec.decode(data)}`)
            }),
          overloaded: () => enc.encode("over"),
          internal: undefined,
        },
      )
      const ask = (i: number) =>
        Effect.map(client.request("t.bounded", enc.encode(String(i)), { timeout: "10 seconds" }), (b) =>
          dec.decode(b),
        )
      // Four requests first: two handled, two held.
      const first = yield* Effect.forkDaemon(Effect.forEach([1, 2, 3, 4], ask, { concurrency: "unbounded" }))
      while (stats.pending() < 4) yield* Effect.sleep("1 millis")
      expect(active).toBe(2)
      // The fifth finds the endpoint full: answered at once, never handled.
      expect(yield* ask(5)).toBe("over")
      expect(stats.overloaded()).toBe(1)
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Fiber.join(first)).toEqual(["done 1", "done 2", "done 3", "done 4"])
      expect(mostActive).toBe(2)
      expect(started.slice(2)).toEqual(["3", "4"])
      expect(stats.pending()).toBe(0)
      // Room again: the next request is handled.
      expect(yield* ask(6)).toBe("done 6")
    }).pipe(Effect.scoped),
  )
})
