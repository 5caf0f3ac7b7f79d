/**
 * The dashboard every node serves (docs/observability.md): `GET /` is one plain HTML page
 * (DashboardPage.ts) that polls `GET /api/overview` every second and plots with uPlot, which the
 * node serves from its own node_modules (`/uplot.js`, `/uplot.css`): no front-end build.
 *
 * The overview is the cluster as this node sees it: the nodes the metadata group knows, each
 * with the vitals of its admin `summary` (NodeVitals.ts; a node that does not answer within a
 * second is shown down), the keyspaces' shards with replicas, leader and replication lag (from
 * each node's first admin `status` page), and the placement operators in flight. The browser
 * turns the cumulative counters into throughput and latency over the last minutes.
 */
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { HttpServerResponse } from "@effect/platform"
import { Effect, Either, Option } from "effect"
import type { RouterService } from "../client/Router.js"
import { describeOperator } from "../meta/Operator.js"
import { type NodeId, nodeOfReplica } from "../raft/Ids.js"
import type { BusService } from "../transport/Bus.js"
import { DASHBOARD_HTML } from "./DashboardPage.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** How long the overview waits for a node's admin answers. */
const NODE_TIMEOUT = "1 second"

/** A charting library file from node_modules, read once. */
const libraryFile = (() => {
  const require = createRequire(import.meta.url)
  const cache = new Map<string, string>()
  return (path: string): string | undefined => {
    if (!cache.has(path)) {
      try {
        cache.set(path, readFileSync(require.resolve(path), "utf8"))
      } catch {
        return undefined
      }
    }
    return cache.get(path)
  }
})()

const adminRequest = (bus: BusService, subject: string, request: object) =>
  bus.request(subject, encoder.encode(JSON.stringify(request)), { timeout: NODE_TIMEOUT }).pipe(
    Effect.map((bytes): Record<string, unknown> | undefined => {
      try {
        const v: unknown = JSON.parse(decoder.decode(bytes))
        return typeof v === "object" && v !== null && (v as { ok?: unknown }).ok === true
          ? (v as Record<string, unknown>)
          : undefined
      } catch {
        return undefined
      }
    }),
    Effect.orElseSucceed(() => undefined),
  )

interface StatusGroup {
  readonly groupId: number
  readonly isLeader: boolean
  readonly lastIndex: number
  readonly progress?: ReadonlyArray<{ readonly match: number }>
}

/** The overview as JSON (see the module comment). */
export const overview = (router: RouterService, bus: BusService) =>
  Effect.gen(function* () {
    const nodesAnswer = yield* router.meta({ _tag: "GetNodes" }, { deadline: 2000 })
    const nodes =
      nodesAnswer._tag === "NodeList" ? nodesAnswer.nodes.filter((n) => n.state !== "removed") : []
    const admin = (id: number) => router.subjects.admin(id as NodeId)
    const answers = yield* Effect.forEach(
      nodes,
      (n) =>
        Effect.all(
          [
            adminRequest(bus, admin(n.id), { op: "summary" }),
            adminRequest(bus, admin(n.id), { op: "status" }),
          ],
          {
            concurrency: 2,
          },
        ),
      { concurrency: "unbounded" },
    )
    const leaders = new Map<number, { node: number; lag: number }>()
    for (const [i, [, status]] of answers.entries())
      for (const g of (status?.groups as StatusGroup[] | undefined) ?? []) {
        if (!g.isLeader) continue
        let lag = 0
        for (const p of g.progress ?? []) lag = Math.max(lag, g.lastIndex - p.match)
        leaders.set(g.groupId, { node: nodes[i]!.id, lag })
      }
    const map = yield* router.refresh({ deadline: 2000 })
    const shards = [...map.groups.values()]
      .sort((a, b) => a.id - b.id)
      .map((g) => {
        const shard = map.shards.get(g.id)
        return {
          group: g.id,
          keyspace: g.id === 0 ? "(meta)" : g.keyspace,
          slots: shard === undefined ? null : `${shard.start}-${shard.end - 1}`,
          replicas: g.replicas.map((r) => ({ node: nodeOfReplica(r.id), role: r.role })),
          leader: leaders.get(g.id)?.node ?? null,
          lag: leaders.get(g.id)?.lag ?? null,
        }
      })
    const ops = yield* Effect.either(
      router.meta({ _tag: "GetOperators", history: false }, { deadline: 2000 }),
    )
    const operators =
      Either.isRight(ops) && ops.right._tag === "OperatorList"
        ? ops.right.inFlight.map((o) => ({ id: o.id, what: describeOperator(o.spec), step: o.step }))
        : []
    return {
      at: Date.now(),
      cluster: router.cluster,
      mapVersion: map.version,
      nodes: nodes.map((n, i) => {
        const summary = answers[i]![0]
        return {
          id: n.id,
          name: n.name,
          state: n.state,
          up: summary !== undefined,
          ...(summary === undefined
            ? {}
            : {
                groups: summary.groups,
                leaders: summary.leaders,
                leaderless: summary.leaderless,
                health: summary.health,
                ready: summary.ready,
                http: summary.http,
                cpuSeconds: summary.cpuSeconds,
                rssBytes: summary.rssBytes,
                vitalsAt: summary.at,
                proposalsAccepted: summary.proposalsAccepted,
                gatewayRequests: summary.gatewayRequests,
                proposalSeconds: summary.proposalSeconds,
              }),
        }
      }),
      shards,
      operators,
    }
  })

/** The dashboard's routes over the node's router and bus. */
export const routes =
  (router: RouterService, bus: BusService) =>
  (path: string): Option.Option<Effect.Effect<HttpServerResponse.HttpServerResponse>> => {
    switch (path) {
      case "/":
      case "/index.html":
        return Option.some(
          Effect.succeed(
            HttpServerResponse.text(DASHBOARD_HTML, { contentType: "text/html; charset=utf-8" }),
          ),
        )
      case "/uplot.js":
      case "/uplot.css": {
        const file = libraryFile(
          path === "/uplot.js" ? "uplot/dist/uPlot.iife.min.js" : "uplot/dist/uPlot.min.css",
        )
        return Option.some(
          Effect.succeed(
            file === undefined
              ? HttpServerResponse.text("uplot is not installed\n", { status: 404 })
              : HttpServerResponse.text(file, {
                  contentType: path.endsWith(".js") ? "text/javascript" : "text/css",
                  headers: { "cache-control": "max-age=3600" },
                }),
          ),
        )
      }
      case "/api/overview":
        return Option.some(
          overview(router, bus).pipe(
            Effect.map((o) => HttpServerResponse.unsafeJson(o, { headers: { "cache-control": "no-store" } })),
            Effect.catchAll((e) =>
              Effect.succeed(
                HttpServerResponse.unsafeJson({ error: e._tag, message: e.message }, { status: 503 }),
              ),
            ),
          ),
        )
      default:
        return Option.none()
    }
  }
