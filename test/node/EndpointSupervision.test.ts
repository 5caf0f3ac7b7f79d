/**
 * Supervision of a node's endpoints (docs/decisions/0070): a handler that throws on one request
 * fails that request only (answered `Internal`, counted, logged; BoundedServe.ts) and the
 * endpoint goes on answering; the process is not ended. The admin endpoint over a node whose calls throw on demand.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger } from "effect"
import * as NodeAdmin from "../../src/node/NodeAdmin.js"
import { NodeId } from "../../src/raft/Ids.js"
import { Node, type NodeService } from "../../src/runtime/Node.js"
import { LoopExit, recordingExit } from "../../src/runtime/Supervisor.js"
import * as Bus from "../../src/transport/Bus.js"
import * as MemoryBus from "../../src/transport/MemoryBus.js"

const enc = new TextEncoder()
const dec = new TextDecoder()

const logged: string[] = []
const logger = Logger.make(({ message }) => {
  logged.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
})

describe("admin endpoint under supervision", () => {
  it.live("a request whose handler throws is answered Internal; the endpoint answers the next one", () =>
    Effect.gen(function* () {
      const bus = yield* MemoryBus.make()
      let broken = true
      const node = {
        nodeId: NodeId(1),
        groups: Effect.suspend(() => (broken ? Effect.die(new TypeError("status bug")) : Effect.succeed([]))),
        stats: Effect.succeed({}),
      } as unknown as NodeService
      const exit = recordingExit()
      yield* Layer.build(
        NodeAdmin.layer({ cluster: "t" }).pipe(
          Layer.provide(
            Layer.mergeAll(Layer.succeed(Node, node), Bus.layerMemory(bus), Layer.succeed(LoopExit, exit)),
          ),
        ),
      )
      const client = Context.get(yield* Layer.build(Bus.layerMemory(bus)), Bus.Bus)
      const summary = client.request("flotilla.t.op.admin.1", enc.encode(JSON.stringify({ op: "summary" })), {
        timeout: "300 millis",
      })
      // The throwing handler: an Internal answer, and no death.
      const first = JSON.parse(dec.decode(yield* summary)) as { ok: boolean; error: string }
      expect(first).toMatchObject({ ok: false, error: "Internal" })
      broken = false
      const second = JSON.parse(dec.decode(yield* summary)) as {
        ok: boolean
        groups: number
        stopped: number
      }
      expect(second).toMatchObject({ ok: true, groups: 0, stopped: 0 })
      expect(exit.lines).toEqual([])
      // Counted and logged, not silently lost.
      expect(
        logged.some(
          (l) => l.startsWith("admin endpoint (operator): request failed") && l.includes("status bug"),
        ),
      ).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(Logger.replace(Logger.defaultLogger, logger))),
  )
})
