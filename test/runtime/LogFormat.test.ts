import { Cause, Effect, Layer, Logger, Option } from "effect"
import { afterEach, describe, expect, it, vi } from "vitest"
import { KvClient, type KvClientService } from "../../src/client/KvClient.js"
import * as PromiseClient from "../../src/client/PromiseClient.js"
import { jsonLogger } from "../../src/runtime/LogFormat.js"

/** Runs `effect` with a JSON logger that collects its lines. */
const linesOf = (effect: Effect.Effect<void>, context = {}) => {
  const lines: Array<Record<string, unknown>> = []
  Effect.runSync(
    effect.pipe(
      Effect.provide(
        Logger.replace(
          Logger.defaultLogger,
          jsonLogger(context, (l) => lines.push(JSON.parse(l))),
        ),
      ),
    ),
  )
  return lines
}

describe("JSON log lines", () => {
  it("carry time, level, node, group, message and cause", () => {
    const [a, b, c] = linesOf(
      Effect.gen(function* () {
        yield* Effect.logInfo("group 12: created replica 3")
        yield* Effect.logError("store write failed", Cause.fail(new Error("disk full")))
        yield* Effect.logWarning("moved").pipe(Effect.annotateLogs({ group: 7, operator: "op-1" }))
      }),
      { node: 2, name: "n2" },
    )
    expect(a).toMatchObject({
      level: "info",
      node: 2,
      name: "n2",
      group: 12,
      message: "group 12: created replica 3",
    })
    expect(Number.isNaN(Date.parse(a!.time as string))).toBe(false)
    expect(b).toMatchObject({ level: "error", node: 2, message: "store write failed" })
    expect(b!.group).toBeUndefined()
    expect(String(b!.cause)).toContain("disk full")
    expect(c).toMatchObject({ level: "warn", group: 7, operator: "op-1", message: "moved" })
  })
})

describe("the Promise client's logs", () => {
  const logging: KvClientService = {
    get: () => Effect.as(Effect.logWarning("nats: reconnecting"), Option.none()),
  } as unknown as KvClientService
  const layer = Layer.succeed(KvClient, logging)
  afterEach(() => vi.restoreAllMocks())

  it("write nothing to the application's output without a logger", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {})
    const write = vi.spyOn(process.stdout, "write")
    const kv = await PromiseClient.fromLayer(layer)
    expect(await kv.get("k")).toBeUndefined()
    await kv.close()
    expect(log).not.toHaveBeenCalled()
    expect(write).not.toHaveBeenCalled()
  })

  it("go to the application's logger when it gives one", async () => {
    const records: Array<Record<string, unknown>> = []
    const kv = await PromiseClient.fromLayer(layer, { logger: (r) => records.push(r) })
    await kv.get("k")
    await kv.close()
    expect(records).toMatchObject([{ level: "warn", message: "nats: reconnecting" }])
  })
})
