/**
 * A node's metric families (src/node/NodeMetrics.ts) built in this process from a node of which
 * they read only the census, counters and stats: the per-keyspace census of the replicas, the
 * per-group series and the NATS series only when asked for, and the families true to
 * docs/observability.md both ways. test/node/NodeHttp.test.ts scrapes them from a real node
 * in its own process, which `npm run coverage` does not instrument.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Option } from "effect"
import { describe, expect, it } from "vitest"
import type { ShardMap } from "../../src/meta/MetaQuery.js"
import { collect, type MetricSources } from "../../src/node/NodeMetrics.js"
import * as NodeObservations from "../../src/node/NodeObservations.js"
import * as NodeShardMap from "../../src/node/NodeShardMap.js"
import { NodeId } from "../../src/raft/Ids.js"
import type { NodeService, NodeStats, ReplicaBrief } from "../../src/runtime/Node.js"
import { exposition, type Family } from "../../src/runtime/Prometheus.js"
import { RuntimeMetrics } from "../../src/runtime/RuntimeMetrics.js"
import type { TransportStats } from "../../src/transport/TransportService.js"

const dropped = { malformed: 0, truncated: 0, oversized: 0, foreign: 0, overflow: 0, misrouted: 0 }

const stats: NodeStats = {
  groups: 0,
  activeGroups: 0,
  leaders: 0,
  rounds: 41,
  messagesIn: 7,
  messagesOut: 9,
  quiesces: 0,
  wakes: 0,
  snapshotsInstalled: 2,
  refusedMessages: 0,
  droppedImplausible: 0,
  droppedUnknownGroup: 0,
  droppedFrames: 0,
  refusedSessionOpens: 0,
  unsentReplies: 1,
  nodesDown: [NodeId(4), NodeId(5)],
  framesDropped: { ...dropped, unauthenticated: 0 },
  refusedPings: 0,
}

const transport = {
  framesSent: 3,
  bytesSent: 300,
  envelopesSent: 9,
  framesReceived: 5,
  bytesReceived: 500,
  envelopesReceived: 7,
  dropped: { ...dropped, unauthenticated: 0, malformed: 2 },
  unsent: { oversized: 0, disconnected: 1, closed: 0, invalid: 0 },
  inboundBatches: 0,
  inboundBytes: 0,
} as TransportStats

type Brief = Omit<ReplicaBrief, "groupId"> & { readonly groupId: number }

const brief = (groupId: number, over: Partial<Brief> = {}): Brief => ({
  groupId,
  isLeader: false,
  leaderKnown: true,
  quiesced: false,
  stopped: false,
  term: 2,
  commit: 10,
  applied: 9,
  lastIndex: 10,
  mailbox: 0,
  ...over,
})

/**
 * A node of which the families read the census, counters and stats. Like the real one
 * (NodeStatus.forEachReplica), it refills ONE brief object for every replica.
 */
const fakeNode = (metrics: RuntimeMetrics, replicas: ReadonlyArray<Brief>): NodeService =>
  ({
    nodeId: NodeId(1),
    metrics,
    stats: Effect.succeed(stats),
    transportStats: Effect.succeed(transport),
    localStateMachine: () => Option.none(),
    forEachReplica: (f: (b: ReplicaBrief) => void) =>
      Effect.sync(() => {
        const one = { ...brief(0) } as { -readonly [K in keyof Brief]: Brief[K] }
        for (const r of replicas) f(Object.assign(one, r) as unknown as ReplicaBrief)
      }),
  }) as unknown as NodeService

/** A shard map holding groups 1 and 2 in keyspace `kv` and group 3 in `jobs`. */
const shardMap = {
  _tag: "ShardMap",
  version: 1,
  keyspaces: [],
  groups: [
    { id: 1, keyspace: "kv" },
    { id: 2, keyspace: "kv" },
    { id: 3, keyspace: "jobs" },
  ].map((g) => ({
    ...g,
    replicas: [],
    joint: false,
    confVersion: 0,
    leaderHint: 0,
    leaderTerm: 0,
    nextGeneration: 1,
  })),
} as unknown as ShardMap

const replicas: ReadonlyArray<Brief> = [
  brief(0, { isLeader: true, term: 5, commit: 30, applied: 30, mailbox: 1 }),
  brief(1, { isLeader: true, mailbox: 2 }),
  brief(2, { quiesced: true }),
  brief(3, { leaderKnown: false, stopped: true, mailbox: 4 }),
  brief(9),
]

const sources = (over: Partial<MetricSources> = {}): MetricSources => {
  const map = NodeShardMap.make()
  map.update(shardMap)
  const m = new RuntimeMetrics()
  m.proposalsAccepted = 12
  m.proposalSeconds.observe(0.003)
  const observations = NodeObservations.make()
  observations.gateway.observe("put", "ok", 0.002)
  observations.placement.started = 3
  return {
    node: fakeNode(m, replicas),
    observations,
    map,
    healthy: true,
    ready: false,
    ...over,
  }
}

const scrape = (s: MetricSources): ReadonlyArray<Family> => Effect.runSync(collect(s))

/** A family's samples as `labels → value` (`""` for an unlabelled sample). */
const samples = (families: ReadonlyArray<Family>, name: string): Record<string, number> => {
  const f = families.find((x) => x.name === name)
  if (f === undefined) throw new Error(`no family ${name}`)
  if (f.type === "histogram") throw new Error(`${name} is a histogram`)
  return Object.fromEntries(
    f.samples.map((s) => [
      Object.entries(s.labels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(","),
      s.value,
    ]),
  )
}

describe("NodeMetrics.collect", () => {
  it("counts the hosted replicas per keyspace, the metadata group as (meta)", () => {
    const f = scrape(sources())
    const ks = (name: string) => samples(f, name)
    expect(ks("flotilla_groups")).toEqual({
      "keyspace=(meta)": 1,
      "keyspace=kv": 2,
      "keyspace=jobs": 1,
      "keyspace=(unknown)": 1,
    })
    expect(ks("flotilla_groups_leading")).toEqual({
      "keyspace=(meta)": 1,
      "keyspace=kv": 1,
      "keyspace=jobs": 0,
      "keyspace=(unknown)": 0,
    })
    expect(ks("flotilla_groups_quiesced")["keyspace=kv"]).toBe(1)
    expect(ks("flotilla_groups_leaderless")).toMatchObject({ "keyspace=jobs": 1, "keyspace=kv": 0 })
    expect(ks("flotilla_groups_stopped")).toMatchObject({ "keyspace=jobs": 1, "keyspace=(meta)": 0 })
    expect(ks("flotilla_mailbox_requests")).toEqual({ "": 7 })
    expect(ks("flotilla_meta_leader")).toEqual({ "": 1 })
    expect(ks("flotilla_node_healthy")).toEqual({ "": 1 })
    expect(ks("flotilla_node_ready")).toEqual({ "": 0 })
    expect(ks("flotilla_nodes_down")).toEqual({ "": 2 })
    expect(ks("flotilla_proposals_accepted_total")).toEqual({ "": 12 })
    expect(ks("flotilla_transport_dropped_frames_total")["reason=malformed"]).toBe(2)
    expect(ks("flotilla_transport_unsent_total")["reason=disconnected"]).toBe(1)
  })

  it("leads the metadata group only when the node's group 0 replica leads", () => {
    const m = new RuntimeMetrics()
    const f = scrape(sources({ node: fakeNode(m, [brief(0), brief(1, { isLeader: true })]) }))
    expect(samples(f, "flotilla_meta_leader")).toEqual({ "": 0 })
    expect(samples(f, "flotilla_placement_operators_in_flight")).toEqual({ "": 0 })
  })

  it("adds one series per hosted group only with perGroup, and the NATS series only over NATS", () => {
    const plain = scrape(sources())
    expect(plain.some((f) => f.name.startsWith("flotilla_group_"))).toBe(false)
    expect(plain.some((f) => f.name.startsWith("flotilla_nats_"))).toBe(false)
    const full = scrape(
      sources({
        perGroup: true,
        nats: () => ({ inMsgs: 10, outMsgs: 20, inBytes: 100, outBytes: 200, connected: true }),
        sessionsOpen: () => 6,
      }),
    )
    expect(samples(full, "flotilla_group_leading")).toEqual({
      "group=0,keyspace=(meta)": 1,
      "group=1,keyspace=kv": 1,
      "group=2,keyspace=kv": 0,
      "group=3,keyspace=jobs": 0,
      "group=9,keyspace=(unknown)": 0,
    })
    expect(samples(full, "flotilla_group_term")["group=0,keyspace=(meta)"]).toBe(5)
    expect(samples(full, "flotilla_group_applied_index")["group=1,keyspace=kv"]).toBe(9)
    expect(samples(full, "flotilla_nats_connected")).toEqual({ "": 1 })
    expect(samples(full, "flotilla_nats_sent_bytes_total")).toEqual({ "": 200 })
    expect(samples(full, "flotilla_sessions_open")).toEqual({ "": 6 })
    // Every family once, and all of them writable in the text format.
    const names = full.map((f) => f.name)
    expect(new Set(names).size).toBe(names.length)
    expect(exposition(full)).toContain('flotilla_gateway_request_seconds_count{op="put",outcome="ok"} 1')
  })

  it("exposes exactly the families docs/observability.md lists", () => {
    const doc = readFileSync(join(import.meta.dirname, "../../docs/observability.md"), "utf8")
    // The first cell of each metric table row: `name{labels}`, or `name` / `_tail` for a pair
    // whose second name swaps the first one's last words (`_received_total` / `_sent_total`).
    const documented = new Set<string>()
    for (const row of doc.split("\n").filter((l) => l.startsWith("| `flotilla_"))) {
      const cell = row.split("|")[1]!
      const [first, ...tails] = [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\{.*\}$/, ""))
      documented.add(first!)
      for (const tail of tails) {
        const words = first!.split("_")
        documented.add(
          [...words.slice(0, words.length - (tail.split("_").length - 1)), tail.slice(1)].join("_"),
        )
      }
    }
    // The per-group gauges are listed in a sentence.
    const perGroup = doc.slice(doc.indexOf("### With `--metrics-per-group`"))
    for (const m of perGroup.slice(0, perGroup.indexOf("(gauges")).matchAll(/`(flotilla_[a-z_]+)`/g))
      documented.add(m[1]!)
    const produced = scrape(
      sources({
        perGroup: true,
        nats: () => ({ inMsgs: 0, outMsgs: 0, inBytes: 0, outBytes: 0, connected: false }),
      }),
    ).map((f) => f.name)
    expect([...documented].sort()).toEqual([...produced].sort())
  })
})
