/**
 * `flotilla status` on nodes whose replicas do not fit one admin answer: the admin endpoint
 * pages its `status`, and the status report reads every page. Pages are made small here so
 * that a few dozen groups need several.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Kv } from "../../shards/kv/Kv.js"
import * as ClusterStatus from "../../src/cli/ClusterStatus.js"
import * as Router from "../../src/client/Router.js"
import { Bus } from "../../src/transport/Bus.js"
import * as MemoryCluster from "../client/support/MemoryCluster.js"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

describe("admin status pages", () => {
  it.live(
    "cover every replica once, in group order, and the status report reads them all",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const cluster = yield* MemoryCluster.make({ kinds: [Kv], shards: 24, adminStatusPageBytes: 2_048 })
          yield* cluster.awaitLeaders
          const ctx = yield* Layer.build(
            Router.layer({ cluster: cluster.cluster }).pipe(Layer.provideMerge(cluster.clientBus)),
          )
          const bus = ctx.unsafeMap.get(Bus.key) as Bus["Type"]
          const router = ctx.unsafeMap.get(Router.Router.key) as Router.Router["Type"]
          const admin = (request: unknown) =>
            Effect.map(
              bus.request(
                `flotilla.${cluster.cluster}.cli.admin.1`,
                encoder.encode(JSON.stringify(request)),
                {
                  timeout: "2 seconds",
                },
              ),
              (b) =>
                JSON.parse(decoder.decode(b)) as {
                  ok: boolean
                  groups: { groupId: number }[]
                  next?: number
                },
            )

          const ids: number[] = []
          let pages = 0
          let after: number | undefined
          for (;;) {
            const page = yield* admin({ op: "status", ...(after !== undefined ? { after } : {}) })
            expect(page.ok).toBe(true)
            pages++
            ids.push(...page.groups.map((g) => g.groupId))
            if (page.next === undefined) break
            expect(page.next).toBe(page.groups.at(-1)!.groupId)
            after = page.next
          }
          const hosted = (yield* cluster.node(1).pipe(Effect.flatMap((n) => n.groups))).map((g) => g.groupId)
          expect(pages).toBeGreaterThan(1)
          expect(ids).toEqual([...hosted].sort((a, b) => a - b))

          expect((yield* admin({ op: "status", after: -1 })).ok).toBe(false)

          const report = yield* ClusterStatus.gather(router, bus)
          const kvGroups = report.groups.filter((g) => g.keyspace !== "(meta)")
          expect(kvGroups.length).toBe(24)
          for (const g of kvGroups) expect(g.leader, `group ${g.group}`).toBeDefined()
          const leads = report.nodes.reduce((n, node) => n + (node.leads ?? 0), 0)
          expect(leads).toBe(24)
          // Each node's health and readiness come with its admin summary.
          for (const n of report.nodes) {
            expect(n.health, `node ${n.id}`).toBe("ok")
            expect(n.ready, `node ${n.id}`).toBe("not registered with the metadata group yet")
          }
          expect(ClusterStatus.render(report)).toMatch(/NODE\s+NAME\s+STATE\s+HEALTH\s+READY/)
        }),
      ),
    60_000,
  )
})

describe("the status report's text", () => {
  it("lists stopped replicas with their reason and counts them in the summary line", () => {
    const text = ClusterStatus.render({
      cluster: "c",
      mapVersion: 3,
      nodes: [
        {
          id: 1,
          name: "n-1",
          state: "up",
          replicas: 1,
          leads: 1,
          health: "ok",
          ready: "ready",
          http: undefined,
        },
      ],
      groups: [{ keyspace: "kv", group: 1, slots: "0-4095", replicas: "n1", leader: 1, lag: 0 }],
      stopped: [{ group: 1, node: 1, reason: "handling a message from 2 failed: TypeError: core bug" }],
    })
    const lines = text.split("\n")
    expect(lines[0]).toBe("cluster c: 1 node(s), 1 group(s), shard map v3, 1 stopped replica(s)")
    expect(lines.slice(-2)).toEqual([
      "stopped replicas (until their node restarts):",
      "  group 1 on n1: handling a message from 2 failed: TypeError: core bug",
    ])
    expect(ClusterStatus.render({ cluster: "c", mapVersion: 3, nodes: [], groups: [] })).not.toContain(
      "stopped",
    )
  })
})
