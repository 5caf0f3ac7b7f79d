/**
 * A node's HTTP endpoint (@effect/platform's HTTP server on Node's `http`), for Prometheus,
 * supervisors, load balancers and people:
 *
 * - `GET /metrics`: the Prometheus text exposition of the node's metrics (NodeMetrics.ts);
 * - `GET /health`: 200 `ok` while the node's loops are alive and making progress, else 503
 *   with the reasons, one a line (NodeHealth.ts);
 * - `GET /ready`: 200 `ready` once the node has joined, reaches the metadata group and has
 *   loaded and caught up every local replica, else 503 with the reasons;
 * - `GET /`, `/api/overview` and the charting library: the dashboard (Dashboard.ts).
 *
 * Anything else is 404; a method other than GET or HEAD is 405. The endpoint serves reads only:
 * nothing it answers changes the node.
 */
import { createServer } from "node:http"
import { HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Clock, Effect, Layer, Option, Stream } from "effect"
import * as Router from "../client/Router.js"
import { Node } from "../runtime/Node.js"
import { exposition } from "../runtime/Prometheus.js"
import { Bus } from "../transport/Bus.js"
import { NatsConnection } from "../transport/NatsConnection.js"
import * as Dashboard from "./Dashboard.js"
import * as NodeHealth from "./NodeHealth.js"
import * as NodeMetrics from "./NodeMetrics.js"
import { NodeObservations, type NodeObservationsService } from "./NodeObservations.js"
import { NodeShardMap } from "./NodeShardMap.js"

export interface NodeHttpOptions {
  /** The interface to listen on (default 127.0.0.1). */
  readonly host?: string
  /** The port (0: any free port; the address is in `NodeObservations.http`). */
  readonly port: number
  /** Metrics per group too (one series per hosted group and metric: large on big nodes). */
  readonly perGroupMetrics?: boolean
  readonly limits?: NodeHealth.HealthLimits
  /** The dashboard (Dashboard.ts) of this cluster: `/`, `/api/overview`, the charting library. */
  readonly dashboard?: { readonly cluster: string; readonly subjectPrefix?: string }
}

/** Counts reconnects and remembers since when the NATS connection is down. */
const watchNats = (nats: NatsConnection["Type"], o: NodeObservationsService) =>
  Stream.runForEach(nats.statusChanges, (status) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      if (status === "connected") {
        if (o.nats.downSince !== undefined) o.nats.reconnects++
        o.nats.downSince = undefined
      } else if (o.nats.downSince === undefined) o.nats.downSince = now
    }),
  )

const text = (body: string, status = 200) =>
  HttpServerResponse.text(body, { status, contentType: "text/plain; charset=utf-8" })

/** The endpoint's request handler over the node's services. */
const makeApp = (options: NodeHttpOptions) =>
  Effect.gen(function* () {
    const node = yield* Node
    const observations = yield* NodeObservations
    const map = yield* NodeShardMap
    const bus = yield* Bus
    const dashboard =
      options.dashboard === undefined
        ? undefined
        : Dashboard.routes(
            Router.makeWith(bus, {
              cluster: options.dashboard.cluster,
              ...(options.dashboard.subjectPrefix === undefined
                ? {}
                : { subjectPrefix: options.dashboard.subjectPrefix }),
            }),
            bus,
          )
    const nats = yield* Effect.serviceOption(NatsConnection)
    if (Option.isSome(nats)) yield* Effect.forkScoped(watchNats(nats.value, observations))
    const health = Effect.map(Clock.currentTimeMillis, (now) =>
      NodeHealth.health(node, now, observations.nats.downSince, options.limits),
    )
    const ready = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      NodeHealth.readiness(node, observations, map, now, options.limits),
    )
    const natsStats = Option.map(nats, (n) => () => {
      const st = n.connection.stats()
      return { ...st, connected: n.isConnected() }
    })
    const metrics = Effect.gen(function* () {
      const families = yield* NodeMetrics.collect({
        node,
        observations,
        map,
        nats: Option.getOrUndefined(natsStats),
        sessionsOpen: observations.gatewaySessions,
        healthy: (yield* health).ok,
        ready: (yield* ready).ok,
        perGroup: options.perGroupMetrics,
      })
      return HttpServerResponse.text(exposition(families), {
        contentType: "text/plain; version=0.0.4; charset=utf-8",
      })
    })
    const verdict = (v: NodeHealth.Verdict, okText: string) =>
      v.ok ? text(`${okText}\n`) : text(`${v.reasons.join("\n")}\n`, 503)
    const route = (path: string): Effect.Effect<HttpServerResponse.HttpServerResponse> => {
      switch (path) {
        case "/metrics":
          return metrics
        case "/health":
          return Effect.map(health, (v) => verdict(v, "ok"))
        case "/ready":
          return Effect.map(ready, (v) => verdict(v, "ready"))
        default:
          return Option.getOrElse(dashboard?.(path) ?? Option.none(), () =>
            Effect.succeed(text("not found\n", 404)),
          )
      }
    }
    return Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (request.method !== "GET" && request.method !== "HEAD") return text("method not allowed\n", 405)
      const path = new URL(request.url, "http://localhost").pathname
      return yield* route(path).pipe(
        Effect.catchAllDefect((d) =>
          Effect.as(Effect.logError(`http: ${path} failed`, d), text(`internal error: ${String(d)}\n`, 500)),
        ),
      )
    })
  })

/**
 * Serves the endpoint for the layer's lifetime; the address it listens on goes to
 * `NodeObservations.http`. Fails when the port cannot be bound.
 */
export const layer = (options: NodeHttpOptions) =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const app = yield* makeApp(options)
      const server = yield* HttpServer.HttpServer
      yield* server.serve(app)
      const observations = yield* NodeObservations
      const address = server.address
      if (address._tag === "TcpAddress") {
        const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname
        observations.http = `http://${host}:${address.port}`
      }
    }),
  ).pipe(
    Layer.provide(
      NodeHttpServer.layer(createServer, { host: options.host ?? "127.0.0.1", port: options.port }),
    ),
  )
