/**
 * The admin commands against a real small cluster: three managed nodes (DevCluster, LevelDB)
 * over a nats-server of the test's own, the commands run in-process (RunCli.ts).
 *
 * - `group status`: one group, a keyspace's groups (`--json`), bad selections;
 * - `group transfer-leader`: moves leadership to a voter; refuses a node without a voter of
 *   the group and an unknown group;
 * - `keyspace delete`: refused without `--yes`; deletes, nodes drop the replicas, clients get
 *   "no keyspace", and the name can be created again.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as DevCluster from "../../src/cli/DevCluster.js"
import type { GroupStatusReport } from "../../src/cli/GroupStatus.js"
import type { TransferResult } from "../../src/cli/LeaderTransfer.js"
import { type RunningNatsServer, startNatsServer } from "../../src/transport/NatsServer.js"
import { runCli } from "./support/RunCli.js"

let nats: RunningNatsServer
let root: string
let scope: Scope.CloseableScope
let dev: DevCluster.DevCluster
let flags: string[]

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The group ids node `n` hosts now, from its admin endpoint. */
const hostedOn = (n: number): Promise<number[]> =>
  Effect.runPromise(
    Effect.map(
      dev.bus.request(`flotilla.${dev.cluster}.cli.admin.${n}`, encoder.encode('{"op":"status"}'), {
        timeout: "2 seconds",
      }),
      (b) =>
        (JSON.parse(decoder.decode(b)) as { groups: { groupId: number }[] }).groups.map((g) => g.groupId),
    ),
  )

const status = async (...args: string[]): Promise<GroupStatusReport> => {
  const r = await runCli("group", "status", ...args, "--json", ...flags)
  expect(r.failure).toBeUndefined()
  return JSON.parse(r.out) as GroupStatusReport
}

const eventually = async (what: string, cond: () => Promise<boolean>, ms = 30_000): Promise<void> => {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`never: ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

beforeAll(async () => {
  nats = await startNatsServer()
  root = mkdtempSync(join(tmpdir(), "flotilla-admin-test-"))
  scope = Effect.runSync(Scope.make())
  dev = await Effect.runPromise(
    Scope.extend(DevCluster.start({ dataDir: root, natsUrl: nats.url, cluster: "admin", nodes: 3 }), scope),
  )
  flags = ["--nats", nats.url, "--cluster", "admin"]
}, 120_000)

afterAll(async () => {
  if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
  await nats?.close()
  rmSync(root, { recursive: true, force: true })
}, 60_000)

describe("flotilla group status", () => {
  it("shows one group's replicas with their leader, term and indexes; and a keyspace's groups", async () => {
    const text = await runCli("group", "status", "1", ...flags)
    expect(text.failure).toBeUndefined()
    expect(text.out).toMatch(/^group 1 \(kv, slots 0-4095\): leader n\d, term \d+/)
    expect(text.out).toMatch(/GROUP\s+NODE\s+REPLICA\s+ROLE\s+STATE\s+TERM\s+COMMIT\s+APPLIED\s+LAST/)
    expect(
      text.out.match(/^1\s+n\d\s+\d+\s+voter\s+(leader|follower)\s+\d+\s+\d+\s+\d+\s+\d+$/gm),
    ).toHaveLength(3)

    const all = await status("--keyspace", "kv")
    expect(all.groups.map((g) => g.group)).toEqual([1, 2, 3, 4])
    for (const g of all.groups) {
      expect(g.keyspace).toBe("kv")
      expect(g.leader).toBeDefined()
      expect(g.replicas.map((r) => r.node).sort()).toEqual([1, 2, 3])
      expect(g.replicas.filter((r) => r.state === "leader")).toHaveLength(1)
      for (const r of g.replicas) expect(r.applied).toBeGreaterThan(0)
    }
    expect((await status("0")).groups[0]).toMatchObject({ group: 0, keyspace: "(meta)", slots: "-" })
  })

  it("refuses an unknown group or keyspace, and asking for both or neither", async () => {
    expect((await runCli("group", "status", "999", ...flags)).failure).toMatch(
      /no group 999 in the shard map/,
    )
    expect((await runCli("group", "status", "--keyspace", "nope", ...flags)).failure).toMatch(
      /no keyspace "nope" in the shard map/,
    )
    expect((await runCli("group", "status", ...flags)).failure).toMatch(/takes a GROUP or --keyspace NAME/)
    expect((await runCli("group", "status", "1", "--keyspace", "kv", ...flags)).failure).toMatch(
      /takes a GROUP or --keyspace NAME/,
    )
  })
})

describe("flotilla group transfer-leader", () => {
  it("moves leadership to a voter on another node and waits until it leads", async () => {
    // The planner may be finishing a leader balance: wait until nothing is in flight on group 2.
    let result: TransferResult | undefined
    await eventually("the transfer went through", async () => {
      const before = (await status("2")).groups[0]!
      if (before.leader === undefined) return false
      const to = before.replicas.map((r) => r.node).find((n) => n !== before.leader)!
      const r = await runCli("group", "transfer-leader", "2", "--to", String(to), "--json", ...flags)
      if (r.failure?.includes("in flight")) return false
      expect(r.failure).toBeUndefined()
      result = JSON.parse(r.out) as TransferResult
      expect(result).toMatchObject({ group: 2, from: before.leader, to, already: false })
      return true
    })
    expect(result!.term).toBeGreaterThan(0)
    // Asking for the node that leads is a no-op.
    const again = await runCli("group", "transfer-leader", "2", "--to", String(result!.to), ...flags)
    if (again.failure === undefined) expect(again.out).toMatch(/leads already|leadership moved/)
  })

  it("refuses a node without a voter of the group, and an unknown group", async () => {
    const created = await runCli(
      "keyspace",
      "create",
      "solo",
      "--shards",
      "1",
      "--replication",
      "1",
      ...flags,
    )
    expect(created.failure).toBeUndefined()
    const group = Number(created.out.match(/groups (\d+)/)![1])
    const solo = (await status(String(group))).groups[0]!
    const holder = solo.replicas[0]!.node
    const other = [1, 2, 3].find((n) => n !== holder)!
    const r = await runCli("group", "transfer-leader", String(group), "--to", String(other), ...flags)
    expect(r.failure).toBe(
      `Error: node ${other} holds no voter of group ${group} (its voters are on nodes ${holder})`,
    )
    expect((await runCli("group", "transfer-leader", "999", "--to", "1", ...flags)).failure).toMatch(
      /no group 999 in the shard map/,
    )
    expect((await runCli("keyspace", "delete", "solo", "--yes", ...flags)).failure).toBeUndefined()
  })
})

describe("flotilla keyspace delete", () => {
  it("wants --yes; deletes the keyspace, the nodes drop its replicas, clients get no keyspace, the name is free", async () => {
    const refused = await runCli("keyspace", "delete", "kv", ...flags)
    expect(refused.failure).toBe(
      'Error: keyspace delete destroys every key of "kv" for good; run it again with --yes to confirm',
    )
    expect((await runCli("keyspace", "list", ...flags)).out).toMatch(/^kv\s/m)
    expect((await runCli("kv", "put", "a", "1", ...flags)).failure).toBeUndefined()

    const deleted = await runCli("keyspace", "delete", "kv", "--yes", "--json", ...flags)
    expect(deleted.failure).toBeUndefined()
    const { groups } = JSON.parse(deleted.out) as { groups: number[] }
    expect(groups).toEqual([1, 2, 3, 4])
    expect((await runCli("keyspace", "list", ...flags)).out).not.toMatch(/^kv\s/m)
    await eventually("every node dropped the deleted groups", async () => {
      const hosted = await Promise.all([1, 2, 3].map(hostedOn))
      return hosted.every((h) => h.every((g) => !groups.includes(g)))
    })
    const get = await runCli("kv", "get", "a", "--timeout-ms", "1500", ...flags)
    expect(get.failure).toMatch(/no keyspace "kv"/)
    expect((await runCli("keyspace", "delete", "kv", "--yes", ...flags)).failure).toBe(
      "Error: keyspace kv not deleted: no such keyspace",
    )

    const again = await runCli("keyspace", "create", "kv", "--shards", "2", ...flags)
    expect(again.failure).toBeUndefined()
    await eventually("the new keyspace serves", async () => {
      const r = await runCli("kv", "get", "a", "--timeout-ms", "2000", ...flags)
      return r.failure?.includes("no key a") === true
    })
    expect((await runCli("kv", "put", "a", "2", ...flags)).out).toBe("created")
    expect((await runCli("kv", "get", "a", ...flags)).out).toBe("2")
  })
})
