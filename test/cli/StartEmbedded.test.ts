/**
 * `flotilla start --embedded-nats`: a node that runs its own nats-server, which other nodes
 * join through; the server stops with the node; a port already taken is a clear error. And
 * `flotilla keyspace create|list` on that cluster, then the KV store through it.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { NodeProcess } from "../../src/testing/NodeProcess.js"
import { freePort } from "../../src/transport/NatsServer.js"
import { runCli } from "./support/RunCli.js"

const root = mkdtempSync(join(tmpdir(), "flotilla-embedded-"))
const nodes: NodeProcess[] = []

afterAll(async () => {
  for (const n of nodes) await n.kill()
  rmSync(root, { recursive: true, force: true })
})

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe("flotilla start --embedded-nats", () => {
  it("serves the cluster's bus from the first node, refuses a taken port, and stops with the node", async () => {
    const port = await freePort()
    const first = new NodeProcess({
      nodeId: 1,
      mode: "bootstrap",
      dataDir: join(root, "n1"),
      embeddedNats: `127.0.0.1:${port}`,
      cluster: "emb",
    })
    nodes.push(first)
    await first.start()
    const natsPid = Number(/"event":"nats","url":"[^"]+","pid":(\d+)/.exec(first.logs())?.[1])
    expect(alive(natsPid)).toBe(true)

    const second = new NodeProcess({
      nodeId: 2,
      mode: "join",
      dataDir: join(root, "n2"),
      natsUrl: `nats://127.0.0.1:${port}`,
      cluster: "emb",
    })
    nodes.push(second)
    await second.start()
    expect(second.nodeId).toBe(2)

    const status = await runCli("status", "--nats", `nats://127.0.0.1:${port}`, "--cluster", "emb")
    expect(status.failure).toBeUndefined()
    expect(status.out).toMatch(/n1\s/)
    expect(status.out).toMatch(/n2\s/)

    const flags = ["--nats", `nats://127.0.0.1:${port}`, "--cluster", "emb"]
    expect((await runCli("keyspace", "list", ...flags)).out).toContain("no keyspaces")
    const created = await runCli("keyspace", "create", "kv", "--shards", "3", "--replication", "2", ...flags)
    expect(created.failure).toBeUndefined()
    expect(created.out).toContain("keyspace kv: 3 shard(s)")
    const again = await runCli("keyspace", "create", "kv", ...flags)
    expect(again.failure).toContain("KeyspaceExists")
    const nope = await runCli("keyspace", "create", "x", "--kind", "Nope", ...flags)
    expect(nope.failure).toContain('no node hosts kind "Nope" (the nodes host: kv)')
    expect((await runCli("keyspace", "list", ...flags)).out).toMatch(/kv\s+kv\s+3\s+2/)
    expect((await runCli("kv", "put", "greeting", "hello", ...flags)).failure).toBeUndefined()
    expect((await runCli("kv", "get", "greeting", ...flags)).out.trim()).toBe("hello")

    // flotilla keyspace set-replication (to the factor it has: nothing moves, so that the
    // NodeNotEmpty below stays certain)
    const rf = await runCli("keyspace", "set-replication", "kv", "2", "--json", ...flags)
    expect(rf.failure).toBeUndefined()
    expect(JSON.parse(rf.out)).toEqual({ keyspace: "kv", replicationFactor: 2 })
    expect((await runCli("keyspace", "set-replication", "nope", "2", ...flags)).failure).toContain(
      "UnknownKeyspace",
    )
    expect((await runCli("keyspace", "set-replication", "kv", "9", ...flags)).failure).toContain(
      "replicas must be in 1..7, got 9",
    )

    // flotilla node list|drain|remove
    const listed = await runCli("node", "list", ...flags)
    expect(listed.failure).toBeUndefined()
    expect(listed.out).toMatch(/^ID\s+NAME\s+STATE/)
    expect(listed.out.split("\n").find((l) => l.startsWith("2 "))).toMatch(/^2\s+\S+\s+up\b/)
    const asJson = JSON.parse((await runCli("node", "list", "--json", ...flags)).out) as {
      nodes: Array<{ id: number; state: string }>
    }
    expect(asJson.nodes.map((n) => n.id)).toEqual([1, 2])
    expect((await runCli("node", "drain", "2", ...flags)).out).toBe("node 2: draining")
    expect((await runCli("node", "list", "--json", ...flags)).out).toContain('"id":2,')
    expect(JSON.parse((await runCli("node", "list", "--json", ...flags)).out).nodes[1].state).toBe("draining")
    // Node 2 still hosts replicas (two nodes, two replicas per shard: they cannot move).
    expect((await runCli("node", "remove", "2", ...flags)).failure).toContain("NodeNotEmpty")
    expect((await runCli("node", "drain", "99", ...flags)).failure).toContain("UnknownNode")

    const taken = await runCli(
      "start",
      "--bootstrap",
      "--data-dir",
      join(root, "n3"),
      "--cluster",
      "other",
      "--embedded-nats",
      `127.0.0.1:${port}`,
    )
    expect(taken.failure).toContain(`127.0.0.1:${port} is already in use`)
    // The hint names the process holding the port (here the first node's nats-server).
    expect(taken.failure).toContain(`port ${port} is held by nats-server pid ${natsPid}`)
    const both = await runCli(
      "start",
      "--data-dir",
      join(root, "n4"),
      "--embedded-nats",
      `${port}`,
      "--nats",
      "nats://127.0.0.1:1",
    )
    expect(both.failure).toContain("--embedded-nats and --nats exclude each other")
    const bad = await runCli("start", "--data-dir", join(root, "n5"), "--embedded-nats", "here")
    expect(bad.failure).toContain("--embedded-nats wants host:port")
    // Issue 11, finding 8: no unauthenticated server on every interface.
    const open = await runCli(
      "start",
      "--bootstrap",
      "--data-dir",
      join(root, "n6"),
      "--embedded-nats",
      "0.0.0.0:4300",
    )
    expect(open.failure).toContain("refusing to serve an unauthenticated bus on 0.0.0.0")

    await second.stop()
    expect(await first.stop()).toBe(0)
    for (let i = 0; i < 50 && alive(natsPid); i++) await new Promise((r) => setTimeout(r, 100))
    expect(alive(natsPid)).toBe(false)
  }, 120_000)
})
