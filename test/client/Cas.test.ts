/**
 * Compare-and-set under concurrency: the CAS register model accepts exactly the histories a
 * sequential register explains, and concurrent clients of an in-process cluster (each its own
 * Promise client with its own sessions) produce linearizable histories.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Kv } from "../../shards/kv/Kv.js"
import { layer as kvLayer } from "../../src/client/KvClient.js"
import * as PromiseClient from "../../src/client/PromiseClient.js"
import {
  type CasInput,
  type CasOutput,
  casModel,
  checkLinearizable,
  type Operation,
} from "../../src/testing/Linearizability.js"
import { assertLinearizable, type RegisterClient, runCasWorkload } from "./support/CasWorkload.js"
import * as MemoryCluster from "./support/MemoryCluster.js"

const op = (
  client: number,
  input: CasInput,
  output: CasOutput | undefined,
  invokedAt: number,
  completedAt: number,
): Operation<CasInput, CasOutput> => ({ client, input, output, invokedAt, completedAt })

const text = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b))

describe("CAS register model", () => {
  it("accepts sequential and overlapping histories a register explains", () => {
    const ok = checkLinearizable(casModel, [
      op(0, { op: "cas", key: "k", expected: null, value: "a" }, { ok: true }, 0, 1),
      op(1, { op: "get", key: "k" }, { value: "a" }, 2, 3),
      // Two overlapping swaps from "a": one wins, the other sees the winner's value.
      op(0, { op: "cas", key: "k", expected: "a", value: "b" }, { ok: true }, 4, 8),
      op(1, { op: "cas", key: "k", expected: "a", value: "c" }, { ok: false, current: "b" }, 5, 9),
      // An unknown outcome that must have applied to explain the read.
      op(2, { op: "cas", key: "k", expected: "b", value: "d" }, undefined, 10, Number.POSITIVE_INFINITY),
      op(1, { op: "get", key: "k" }, { value: "d" }, 12, 13),
      op(0, { op: "put", key: "j", value: "x" }, { ok: true }, 0, 1),
    ])
    expect(ok).toEqual({ ok: true })
  })

  it("refuses lost updates, stale reads and wrong conflict values", () => {
    const twoWinners = checkLinearizable(casModel, [
      op(0, { op: "put", key: "k", value: "a" }, { ok: true }, 0, 1),
      op(0, { op: "cas", key: "k", expected: "a", value: "b" }, { ok: true }, 2, 5),
      op(1, { op: "cas", key: "k", expected: "a", value: "c" }, { ok: true }, 3, 6),
    ])
    expect(twoWinners.ok).toBe(false)
    const staleRead = checkLinearizable(casModel, [
      op(0, { op: "put", key: "k", value: "a" }, { ok: true }, 0, 1),
      op(0, { op: "cas", key: "k", expected: "a", value: "b" }, { ok: true }, 2, 3),
      op(1, { op: "get", key: "k" }, { value: "a" }, 4, 5),
    ])
    expect(staleRead.ok).toBe(false)
    const wrongCurrent = checkLinearizable(casModel, [
      op(0, { op: "put", key: "k", value: "a" }, { ok: true }, 0, 1),
      op(1, { op: "cas", key: "k", expected: "z", value: "b" }, { ok: false, current: "q" }, 2, 3),
    ])
    expect(wrongCurrent.ok).toBe(false)
    const applied = checkLinearizable(casModel, [
      op(0, { op: "cas", key: "k", expected: null, value: "a" }, { ok: false, current: null }, 0, 1),
    ])
    expect(applied.ok).toBe(false)
  })

  it("checks a history with thousands of unanswered reads (a client spinning while the bus is down)", () => {
    // Each unanswered read would stay a candidate at every step of the search; they change
    // nothing, so the checker leaves them out, and the verdict does not depend on them.
    const unknownReads = Array.from({ length: 3000 }, (_, i) =>
      op(2 + (i % 5), { op: "get", key: "k" }, undefined, 1 + i / 1000, Number.POSITIVE_INFINITY),
    )
    const history = (lastRead: string) => [
      op(0, { op: "put", key: "k", value: "a" }, { ok: true }, 0, 1),
      ...unknownReads,
      op(0, { op: "cas", key: "k", expected: "a", value: "b" }, { ok: true }, 5, 6),
      op(1, { op: "get", key: "k" }, { value: lastRead }, 7, 8),
    ]
    expect(checkLinearizable(casModel, history("b"), 20_000)).toEqual({ ok: true })
    expect(checkLinearizable(casModel, history("a"), 20_000).ok).toBe(false)
  })
})

describe("concurrent compare-and-set over an in-process cluster", () => {
  it.live(
    "eight clients swapping three keys give a linearizable history",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* MemoryCluster.make({ kinds: [Kv], shards: 2 })
          const clients = yield* MemoryCluster.promiseClients(cluster, 8, (router) =>
            PromiseClient.fromLayer(kvLayer.pipe(Layer.provide(router))),
          )
          const registers: RegisterClient[] = clients.map((c) => ({
            get: async (key) => text((await c.get(key)) ?? null),
            put: async (key, value) => void (await c.put(key, value)),
            cas: async (key, expected, value) => {
              const r = await c.cas(key, expected, value)
              return r.succeeded ? { ok: true } : { ok: false, current: text(r.current) }
            },
          }))
          const run = yield* Effect.promise(() => runCasWorkload(registers, ["x", "y", "z"], 40))
          expect(run.failed).toBe(0)
          expect(run.swaps).toBeGreaterThan(10)
          expect(run.conflicts).toBeGreaterThan(0)
          assertLinearizable(run)
        }),
      ),
    90_000,
  )
})
