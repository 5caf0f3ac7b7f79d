/**
 * A node's HTTP endpoint in a real process (`flotilla start` over a real nats-server and
 * LevelDB): /metrics in the Prometheus text format, /health and /ready, 404 and 405, the
 * node's metrics moving under writes, and its log lines as JSON (`--log-format json`).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ProcessCluster } from "../../src/testing/ProcessCluster.js"

let cluster: ProcessCluster
let url: string

const get = async (path: string, init?: RequestInit) => {
  const r = await fetch(`${url}${path}`, init)
  return { status: r.status, type: r.headers.get("content-type") ?? "", body: await r.text() }
}

/** The value of the sample `line` (name and labels exactly) in an exposition. */
const sample = (text: string, line: string): number | undefined => {
  const found = text.split("\n").find((l) => l.startsWith(`${line} `))
  return found === undefined ? undefined : Number(found.slice(line.length + 1))
}

describe("a node's HTTP endpoint", () => {
  beforeAll(async () => {
    cluster = await ProcessCluster.start({
      nodes: 1,
      cluster: "http",
      managed: {},
      nodeArgs: ["--log-format", "json"],
    })
    url = cluster.nodes[0]!.httpUrl!
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
  }, 120_000)
  afterAll(() => cluster?.close())

  it("is healthy, and ready once the node joined and caught up", async () => {
    expect(await get("/health")).toMatchObject({ status: 200, body: "ok\n" })
    await cluster.waitFor(
      "the node ready",
      async () => ((await get("/ready")).status === 200 ? true : undefined),
      60_000,
    )
    expect((await get("/ready")).body).toBe("ready\n")
  })

  it("serves Prometheus metrics that move with the work", async () => {
    const before = await get("/metrics")
    expect(before.status).toBe(200)
    expect(before.type).toContain("text/plain; version=0.0.4")
    expect(before.body).toContain("# TYPE flotilla_proposal_seconds histogram")
    expect(sample(before.body, 'flotilla_groups{keyspace="(meta)"}')).toBe(1)
    expect(sample(before.body, "flotilla_meta_leader")).toBe(1)
    expect(sample(before.body, "flotilla_node_healthy")).toBe(1)
    expect(sample(before.body, "flotilla_nats_connected")).toBe(1)
    const created = await cluster.meta({
      _tag: "CreateKeyspace",
      name: "kv",
      shards: 2,
      replicationFactor: 1,
      at: Date.now(),
    })
    expect(created._tag).toBe("KeyspaceCreated")
    await cluster.waitFor(
      "the keyspace's replicas hosted",
      async () =>
        sample((await get("/metrics")).body, 'flotilla_groups{keyspace="kv"}') === 2 ? true : undefined,
      60_000,
    )
    const after = (await get("/metrics")).body
    for (const name of [
      "flotilla_proposals_accepted_total",
      "flotilla_storage_writes_total",
      "flotilla_proposal_seconds_count",
    ])
      expect(sample(after, name)!, name).toBeGreaterThan(sample(before.body, name)!)
    expect(sample(after, "flotilla_placement_operators_started_total")).toBeGreaterThanOrEqual(0)
    expect(sample(after, "flotilla_process_resident_memory_bytes")).toBeGreaterThan(0)
  })

  it("logs JSON lines with --log-format json", () => {
    const lines = cluster.nodes[0]!.logs()
      .split("\n")
      .filter((l) => l.trim() !== "")
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    const logged = records.filter((r) => r.level !== undefined)
    expect(logged.length).toBeGreaterThan(0)
    for (const r of logged) expect(Object.keys(r).slice(0, 2)).toEqual(["time", "level"])
    // Lines after the node knew its id carry it; lines about one group carry the group.
    expect(records.some((r) => r.node === 1 && r.group !== undefined)).toBe(true)
  })

  it("answers 404 for an unknown path and 405 for a write", async () => {
    expect((await get("/nope")).status).toBe(404)
    expect((await get("/metrics", { method: "POST", body: "x" })).status).toBe(405)
  })
})
