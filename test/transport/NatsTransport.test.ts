import { describe, expect, it } from "@effect/vitest"
import { connect } from "@nats-io/transport-node"
import { Context, Effect, Layer, Option, Stream } from "effect"
import { afterAll, beforeAll } from "vitest"
import type { NodeId } from "../../src/raft/Ids.js"
import * as NatsConnection from "../../src/transport/NatsConnection.js"
import * as NatsServer from "../../src/transport/NatsServer.js"
import type { TransportService } from "../../src/transport/Transport.js"
import * as Transport from "../../src/transport/Transport.js"
import { type TransportHarness, transportCompliance } from "./compliance.js"
import { captureLogs, eventually, hb } from "./helpers.js"

let server: NatsServer.RunningNatsServer
beforeAll(async () => {
  server = await NatsServer.startNatsServer()
})
afterAll(async () => {
  await server?.close()
})

let clusters = 0

const natsHarness: TransportHarness = {
  make: (nodes, options = {}) =>
    Effect.gen(function* () {
      const cluster = `nats${++clusters}`
      const observer = yield* Effect.acquireRelease(
        Effect.promise(() => connect({ servers: server.url, noEcho: true })),
        (nc) => Effect.promise(() => nc.close()),
      )
      const counts = new Map<string, number>()
      observer.subscribe(`flotilla.${cluster}.>`, {
        callback: (_err, msg) => {
          counts.set(msg.subject, (counts.get(msg.subject) ?? 0) + 1)
        },
      })
      yield* Effect.promise(() => observer.flush())
      const transports = new Map<NodeId, TransportService>()
      for (const nodeId of nodes) {
        const context = yield* Layer.build(
          Transport.layerNats({ servers: server.url, cluster, nodeId, ...options }),
        )
        transports.set(nodeId, Context.get(context, Transport.Transport))
      }
      const subject = (to: NodeId, kind: "raft" | "snap") => `flotilla.${cluster}.int.${kind}.${to}`
      return {
        cluster,
        transport: (node) => transports.get(node)!,
        inject: (to, kind, payload) =>
          Effect.promise(async () => {
            observer.publish(subject(to, kind), payload)
            await observer.flush()
          }),
        published: (to, kind) => Effect.sync(() => counts.get(subject(to, kind)) ?? 0),
      }
    }),
}

transportCompliance("NATS", natsHarness)

const N1 = 1 as NodeId
const N2 = 2 as NodeId

describe("NATS transport", () => {
  it.scopedLive("survives a nats-server restart: the client keeps reconnecting and traffic resumes", () => {
    const logs: string[] = []
    return Effect.gen(function* () {
      const nats = yield* NatsServer.make()
      const node = (nodeId: NodeId) =>
        Effect.gen(function* () {
          const conn = yield* NatsConnection.make({
            servers: nats.url,
            reconnectWait: "100 millis",
            reconnectWaitMax: "1 second",
            reconnectJitter: "50 millis",
          })
          const context = yield* Layer.build(
            Transport.layerNatsConnection({ cluster: "restart", nodeId }).pipe(
              Layer.provide(Layer.succeed(NatsConnection.NatsConnection, conn)),
            ),
          )
          return { conn, transport: Context.get(context, Transport.Transport) }
        })
      const a = yield* node(N1)
      const b = yield* node(N2)
      expect(a.conn.clientOptions.maxReconnectAttempts).toBe(-1)
      const seen: string[] = []
      yield* Effect.forkScoped(
        Stream.runForEach(a.conn.statusChanges, (s) => Effect.sync(() => seen.push(s))),
      )

      yield* a.transport.send(N2, [hb(N1, N2, 1, 1)])
      expect((yield* b.transport.take).envelopes).toEqual([hb(N1, N2, 1, 1)])

      yield* nats.stop
      yield* eventually(a.conn.status, (s) => s !== "connected", "node 1 to notice the outage")
      yield* Effect.sleep("3 seconds")
      yield* a.transport.send(N2, [hb(N1, N2, 1, 2)])
      expect((yield* a.transport.stats).unsent.disconnected).toBeGreaterThanOrEqual(1)
      expect(yield* a.conn.status).not.toBe("closed")

      yield* nats.start
      yield* eventually(a.conn.status, (s) => s === "connected", "node 1 to reconnect", "20 seconds")
      yield* eventually(b.conn.status, (s) => s === "connected", "node 2 to reconnect", "20 seconds")
      // Node 2 may re-subscribe a moment after node 1 is back: resend until a frame arrives.
      const resumed = yield* a.transport
        .send(N2, [hb(N1, N2, 1, 3)])
        .pipe(
          Effect.zipRight(b.transport.take.pipe(Effect.timeout("200 millis"))),
          Effect.retry({ times: 100 }),
        )
      expect(resumed.envelopes).toEqual([hb(N1, N2, 1, 3)])
      expect(seen[0]).toBe("connected")
      expect(seen.some((s) => s === "disconnected" || s === "reconnecting")).toBe(true)
      expect(seen.at(-1)).toBe("connected")
      expect(logs.some((l) => l.startsWith("nats: connected"))).toBe(true)
    }).pipe(captureLogs(logs))
  })

  it.scopedLive("reports its receive path dead when its connection closes underneath it", () =>
    Effect.gen(function* () {
      const conn = yield* NatsConnection.make({ servers: server.url })
      const context = yield* Layer.build(
        Transport.layerNatsConnection({ cluster: "closed", nodeId: N1 }).pipe(
          Layer.provide(Layer.succeed(NatsConnection.NatsConnection, conn)),
        ),
      )
      const transport = Context.get(context, Transport.Transport)
      // While the connection lives, no failure is reported.
      expect(yield* Effect.timeout(transport.receiveFailure, "200 millis").pipe(Effect.option)).toEqual(
        Option.none(),
      )
      yield* Effect.promise(() => conn.connection.close())
      const reason = yield* Effect.timeout(transport.receiveFailure, "10 seconds")
      expect(reason).toBe("the NATS connection closed")
    }),
  )
})
