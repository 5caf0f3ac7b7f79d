/**
 * `flotilla backup create|verify` against real node processes (managed: one bootstraps, two
 * join) over a real nats-server: keys written, a backup taken while writes continue, the file
 * verified; a flipped byte in a shard's section makes verify fail naming that shard.
 */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connect } from "@nats-io/transport-node"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { openBackup } from "../../src/cli/backup/BackupReader.js"
import { createKvClient, type KvPromiseClient } from "../../src/client/PromiseClient.js"
import { NodeProcess } from "../../src/testing/NodeProcess.js"
import { ProcessCluster } from "../../src/testing/ProcessCluster.js"
import { type RunningNatsServer, startNatsServer } from "../../src/transport/NatsServer.js"
import { runCli } from "./support/RunCli.js"

const KEYS = 10_000
const root = mkdtempSync(join(tmpdir(), "flotilla-backup-"))
const file = join(root, "cluster.fbk")
let cluster: ProcessCluster
let kv: KvPromiseClient
let during = 0
const restored: NodeProcess[] = []
let nats: RunningNatsServer | undefined

const flags = () => ["--nats", cluster.nats.url, "--cluster", cluster.cluster, "--timeout-ms", "30000"]

/** Runs `f` on 0..n-1 with `width` calls in flight. */
const pool = async (n: number, width: number, f: (i: number) => Promise<void>) => {
  let next = 0
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await f(next++)
    }),
  )
}

beforeAll(async () => {
  cluster = await ProcessCluster.start({ nodes: 3, managed: {} })
  const created = await cluster.meta({ _tag: "CreateKeyspace", name: "kv", shards: 4 })
  expect(created._tag).toBe("KeyspaceCreated")
  kv = await createKvClient({ servers: cluster.nats.url, cluster: cluster.cluster, deadlineMs: 30_000 })
  await pool(KEYS, 64, (i) => kv.put(`key-${i}`, `value-${i}`).then(() => {}))
}, 180_000)

afterAll(async () => {
  await kv?.close()
  await cluster?.close()
  for (const n of restored) await n.kill()
  await nats?.stop()
  rmSync(root, { recursive: true, force: true })
}, 60_000)

describe("flotilla backup", () => {
  it("creates a backup while writes continue, and verifies it", async () => {
    let writing = true
    const writer = (async () => {
      while (writing) await kv.put(`during-${during++}`, "x").catch(() => {})
    })()
    const created = await runCli("backup", "create", "--out", file, ...flags())
    writing = false
    await writer
    expect(created.failure).toBeUndefined()
    expect(created.out).toContain("1 keyspace(s), 4 shard(s)")
    expect(during).toBeGreaterThan(0)

    const verified = await runCli("backup", "verify", file)
    expect(verified.failure).toBeUndefined()
    expect(verified.out).toContain(`backup ${file} is sound: cluster "${cluster.cluster}", 5 section(s)`)
  }, 120_000)

  it("names the damaged shard when a byte of its section is flipped", async () => {
    const manifest = await Effect.runPromise(Effect.scoped(Effect.map(openBackup(file), (f) => f.manifest)))
    const shard = manifest.keyspaces[0]!.shards[2]!
    expect(shard.size).toBeGreaterThan(100)
    const damaged = join(root, "damaged.fbk")
    copyFileSync(file, damaged)
    const bytes = readFileSync(damaged)
    const at = shard.offset + shard.size // inside the data: the header is shorter than the data
    bytes[at] = bytes[at]! ^ 0x40
    writeFileSync(damaged, bytes)
    const r = await runCli("backup", "verify", damaged)
    expect(r.failure).toContain("is damaged: 1 problem(s)")
    expect(r.err).toBe(`shard kv/2 (group ${shard.group}): checksum mismatch`)

    const target = join(root, "from-damaged")
    const refused = await runCli("restore", damaged, "--data-dir", target)
    expect(refused.failure).toContain(
      `is damaged, nothing restored: shard kv/2 (group ${shard.group}): checksum mismatch`,
    )
    expect(existsSync(join(target, "identity.json"))).toBe(false)
    writeFileSync(join(target, "stray"), "")
    const notEmpty = await runCli("restore", file, "--data-dir", target)
    expect(notEmpty.failure).toContain(`${target} is not empty (stray): restore into an empty directory`)

    const json = await runCli("backup", "verify", damaged, "--json")
    expect(JSON.parse(json.out)).toMatchObject({
      ok: false,
      problems: [`shard kv/2 (group ${shard.group}): checksum mismatch`],
    })
  }, 60_000)

  it("restores into a fresh 3-node cluster with every key acknowledged before the backup", async () => {
    await kv.close()
    await cluster.close()
    const dataDir = join(root, "r1")
    const r = await runCli("restore", file, "--data-dir", dataDir, "--cluster", "again", "--json")
    expect(r.failure).toBeUndefined()
    expect(JSON.parse(r.out)).toMatchObject({ cluster: "again", keyspaces: 1, groups: 5 })
    const again = await runCli("restore", file, "--data-dir", dataDir)
    expect(again.failure).toContain(`${dataDir} already holds node 1 of cluster "again"`)

    nats = await startNatsServer()
    const natsUrl = nats.url
    const start = async (nodeId: number, mode: "bootstrap" | "join") => {
      const n = new NodeProcess({
        nodeId,
        mode,
        dataDir: join(root, `r${nodeId}`),
        natsUrl,
        cluster: "again",
      })
      restored.push(n)
      await n.start()
    }
    await start(1, "bootstrap")
    await start(2, "join")
    await start(3, "join")
    kv = await createKvClient({ servers: natsUrl, cluster: "again", deadlineMs: 30_000 })
    const missing: string[] = []
    await pool(KEYS, 64, async (i) => {
      const v = await kv.getText(`key-${i}`)
      if (v !== `value-${i}`) missing.push(`key-${i}: ${v}`)
    })
    expect(missing).toEqual([])
    await pool(during, 32, async (i) => {
      const v = await kv.getText(`during-${i}`)
      if (v !== undefined && v !== "x") missing.push(`during-${i}: ${v}`)
    })
    expect(missing).toEqual([])
    // The restored cluster takes writes, and the planner gives every shard 3 voters again.
    await kv.put("after-restore", "yes")
    expect(await kv.getText("after-restore")).toBe("yes")
    // Every group, the metadata group's included, gets 3 voters again (the planner's work).
    const nc = await connect({ servers: natsUrl })
    try {
      const deadline = Date.now() + 120_000
      let groups: ReadonlyArray<{ id: number; replicas: ReadonlyArray<{ role: string }> }> = []
      while (Date.now() < deadline) {
        const reply = await nc
          .request("flotilla.again.cli.meta", JSON.stringify({ _tag: "GetShardMap" }), { timeout: 3000 })
          .then((m) => JSON.parse(new TextDecoder().decode(m.data)) as { groups?: typeof groups })
          .catch(() => ({ groups: [] }))
        groups = reply.groups ?? []
        if (
          groups.length === 5 &&
          groups.every((g) => g.replicas.filter((x) => x.role === "voter").length === 3)
        )
          break
        await new Promise((f) => setTimeout(f, 500))
      }
      expect(groups.map((g) => g.replicas.filter((x) => x.role === "voter").length)).toEqual([3, 3, 3, 3, 3])
    } finally {
      await nc.close()
    }
  }, 240_000)
})
