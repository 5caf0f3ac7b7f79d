/**
 * A node whose transport can no longer receive (its NATS connection closed for good) is a node
 * with a dead loop: it ends with `flotilla: loop transport receive died: <why>` rather than
 * living on deaf (docs/decisions/0070). Real nats-server, a recording `LoopExit`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { afterAll, beforeAll } from "vitest"
import { NodeId } from "../../src/raft/Ids.js"
import { NodeLive } from "../../src/runtime/Node.js"
import { LoopExit, recordingExit } from "../../src/runtime/Supervisor.js"
import { LogStore } from "../../src/storage/LogStore.js"
import * as MemoryLogStore from "../../src/storage/MemoryLogStore.js"
import { checksumKind } from "../../src/testing/ChecksumMachine.js"
import * as Bus from "../../src/transport/Bus.js"
import * as MemoryBus from "../../src/transport/MemoryBus.js"
import * as NatsConnection from "../../src/transport/NatsConnection.js"
import * as NatsServer from "../../src/transport/NatsServer.js"
import * as Transport from "../../src/transport/Transport.js"

let server: NatsServer.RunningNatsServer
beforeAll(async () => {
  server = await NatsServer.startNatsServer()
})
afterAll(async () => {
  await server?.close()
})

describe("supervision of the transport's receive path", () => {
  it.scopedLive("a node whose NATS connection closes for good ends with one line", () =>
    Effect.gen(function* () {
      const conn = yield* NatsConnection.make({ servers: server.url })
      const bus = yield* MemoryBus.make()
      const exit = recordingExit()
      yield* Layer.build(
        NodeLive({ nodeId: NodeId(1), cluster: "deaf", kindOf: () => checksumKind }).pipe(
          Layer.provide(
            Layer.mergeAll(
              Layer.scoped(LogStore, Effect.orDie(MemoryLogStore.make())),
              Transport.layerNatsConnection({ cluster: "deaf", nodeId: NodeId(1) }).pipe(
                Layer.provide(Layer.succeed(NatsConnection.NatsConnection, conn)),
              ),
              Bus.layerMemory(bus),
            ),
          ),
          Layer.provide(Layer.succeed(LoopExit, exit)),
        ),
      )
      yield* Effect.sleep("100 millis")
      expect(exit.lines).toEqual([])
      yield* Effect.promise(() => conn.connection.close())
      for (let i = 0; i < 200 && exit.lines.length === 0; i++) yield* Effect.sleep("25 millis")
      expect(exit.lines).toEqual(["flotilla: loop transport receive died: the NATS connection closed"])
    }),
  )
})
