/**
 * `flotilla inspect` on data directories made by the real LevelDB store: a metadata group and a
 * KV group with a snapshot, an identity and a group catalog. The report, `--json`, decoded
 * entries, refusals (locked, missing, not a store, LevelDB damaged), a damaged record reported
 * with its group and index, and a directory left exactly as it was.
 */
import { createHash } from "node:crypto"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { Level } from "level"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { encodeCommand } from "../../src/meta/MetaCommand.js"
import * as NodeIdentity from "../../src/node/NodeIdentity.js"
import { ConfChangeType, confChange, encodeConfChange } from "../../src/raft/ConfChange.js"
import { NodeId, replicaIdOf } from "../../src/raft/Ids.js"
import { type Entry, EntryType, type ReplicaId } from "../../src/raft/Types.js"
import * as EntityId from "../../src/runtime/entity/EntityId.js"
import * as Wire from "../../src/runtime/entity/Wire.js"
import { GroupCatalog, layerFile } from "../../src/runtime/GroupCatalog.js"
import { replayConfChanges } from "../../src/storage/inspect/ConfReplay.js"
import { locksFile } from "../../src/storage/inspect/LockProbe.js"
import { entryKey, groupKey, Kind } from "../../src/storage/internal/Codec.js"
import { LogStore, layerLevel } from "../../src/storage/LogStore.js"
import { inspectStore } from "../../src/storage/StoreInspection.js"
import { conf, G, hs, snapshot } from "../storage/workload.js"
import { runCli } from "./support/RunCli.js"

const R1 = replicaIdOf(NodeId(1))
const root = mkdtempSync(join(tmpdir(), "flotilla-inspect-test-"))
let n = 0
const fresh = () => join(root, `d${++n}`)

const normal = (index: number, term: number, data: Uint8Array): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data,
})

const put = (key: string, value: string) =>
  Wire.stampTime(
    Wire.encodeRequest({
      type: "command",
      kind: "kv",
      operation: "Put",
      entityId: EntityId.fromString(key),
      payload: { value },
      session: 3,
      seq: 1,
      ackedBelow: 0,
    }),
    1_700_000_000_000,
  )

/** A node's data dir: meta group 0 (entries 1..4, commit 3) and KV group 7 (snapshot at 3, entries 4..6). */
const makeDataDir = (dir: string, instances = 1) =>
  Effect.gen(function* () {
    const store = yield* LogStore
    const catalog = yield* GroupCatalog
    const addVoter = encodeConfChange(confChange([{ type: ConfChangeType.AddNode, nodeId: R1 }]))
    yield* store.write([
      {
        groupId: G(0),
        entries: [
          { index: 1, term: 1, type: EntryType.ConfChange, data: addVoter },
          normal(2, 2, new Uint8Array(0)),
          normal(3, 2, encodeCommand({ _tag: "Heartbeat", node: NodeId(1), at: 1000 })),
          normal(4, 2, encodeCommand({ _tag: "Heartbeat", node: NodeId(1), at: 2000 })),
        ],
        hardState: hs(2, R1, 3),
      },
      {
        groupId: G(7),
        entries: [1, 2, 3, 4, 5, 6].map((i) => normal(i, 1, put(`key-${i}`, `value-${i}`))),
        hardState: hs(1, R1, 6),
      },
    ])
    yield* store.write([{ groupId: G(7), savedSnapshot: snapshot(7, 3, 1), compactTo: 3 }])
    yield* catalog.set(G(0), "meta")
    yield* catalog.set(G(7), "kv")
    yield* NodeIdentity.write(dir, {
      version: 1,
      cluster: "test",
      token: "secret-token",
      node: NodeId(1),
      bootstrapped: true,
    })
  }).pipe(
    Effect.provide(Layer.merge(layerLevel(dir, { instances }), layerFile(dir))),
    Effect.scoped,
    Effect.runPromise,
  )

/** Every file under `dir` with its size and content hash. */
const fingerprint = (dir: string): Record<string, string> => {
  const out: Record<string, string> = {}
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else out[p] = `${statSync(p).size}:${createHash("sha256").update(readFileSync(p)).digest("hex")}`
    }
  }
  walk(dir)
  return out
}

/** Replaces the record under `key` with one whose last byte is flipped (its checksum left as it was). */
const flipRecordByte = async (dir: string, key: Buffer) => {
  const db = new Level<Buffer, Buffer>(join(dir, "log-0"), { keyEncoding: "buffer", valueEncoding: "buffer" })
  await db.open()
  const value = Buffer.from((await db.get(key))!)
  value[value.length - 1]! ^= 0x40
  await db.put(key, value)
  await db.close()
}

let dir: string
beforeAll(async () => {
  dir = fresh()
  await makeDataDir(dir)
})
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe("flotilla inspect", () => {
  it("prints the identity, every group's state, and leaves the directory as it was", async () => {
    const before = fingerprint(dir)
    const r = await runCli("inspect", dir)
    expect(r.failure).toBeUndefined()
    expect(r.out).toContain('identity: cluster "test", node 1, bootstrapped the cluster')
    expect(r.out).not.toContain("secret-token")
    expect(r.out).toContain("checked: the CRC-32 of every record")
    expect(r.out).toContain("all good")
    const rows = r.out.split("\n").filter((l) => /^\d+\s/.test(l))
    expect(rows).toHaveLength(2)
    expect(rows[0]).toMatch(/^0\s+meta\s+2\s+1\s+3\s+1\.\.4\s+4\s+\d+\s+-\s+voters=\(1\)$/)
    expect(rows[1]).toMatch(/^7\s+kv\s+1\s+1\s+6\s+4\.\.6\s+3\s+\d+\s+3\/1 64B\s+voters=\(1 2 3\)$/)
    expect(fingerprint(dir)).toEqual(before)
  })

  it("--json prints one document with the same facts", async () => {
    const r = await runCli("inspect", dir, "--json")
    expect(r.failure).toBeUndefined()
    const doc = JSON.parse(r.out)
    expect(doc.ok).toBe(true)
    expect(doc.identity).toEqual({ cluster: "test", node: 1, bootstrapped: true })
    expect(doc.groups.map((g: { group: number }) => g.group)).toEqual([0, 7])
    const [meta, kv] = doc.groups
    expect(meta.hardState).toEqual({ term: 2, vote: R1, commit: 3 })
    expect(meta.confState.voters).toEqual([R1])
    expect(meta.log).toMatchObject({ first: 1, last: 4, entries: 4, floor: { index: 0, term: 0 } })
    expect(meta.confChanges).toEqual([{ index: 1, change: expect.stringContaining("v1"), committed: true }])
    expect(kv.kind).toBe("kv")
    expect(kv.snapshot).toMatchObject({ index: 3, term: 1, size: 64 })
    expect(kv.confState).toEqual(conf(1, 2, 3))
    expect(kv.log).toMatchObject({ first: 4, last: 6, entries: 3, floor: { index: 3, term: 1 } })
    expect(doc.store.snapshotFiles).toBe(1)
    expect(doc.problems).toEqual([])
  })

  it("--group --entries decodes entries with the core's describers and summarises commands", async () => {
    const meta = await runCli("inspect", dir, "--group", "0", "--entries", "1..4")
    expect(meta.failure).toBeUndefined()
    expect(meta.out).toContain("1/1 EntryConfChange")
    expect(meta.out).toContain("empty (a new leader's first entry)")
    expect(meta.out).toContain('meta Heartbeat {"node":1,"at":1000}')
    expect(meta.out).toContain("conf change at 1:")
    const kv = await runCli("inspect", dir, "--group", "7", "--entries", "1..5", "--json")
    const [group] = JSON.parse(kv.out).groups
    expect(group.entries.map((e: { index: number }) => e.index)).toEqual([4, 5])
    expect(group.entries[0].summary).toBe(
      'kv Put "key-4" {"value":"value-4"} session 3 seq 1 at 2023-11-14T22:13:20.000Z',
    )
    expect(group.entries[0].text).toMatch(/^1\/4 EntryNormal 0x01/)
  })

  it("refuses bad --entries ranges with one line", async () => {
    expect((await runCli("inspect", dir, "--entries", "1..2")).failure).toContain("--entries needs --group N")
    expect((await runCli("inspect", dir, "--group", "7", "--entries", "5")).failure).toContain(
      '--entries must be a range A..B of log indexes, got "5"',
    )
    expect((await runCli("inspect", dir, "--group", "7", "--entries", "6..2")).failure).toContain(
      "need 1 <= A <= B",
    )
  })

  it("refuses a directory a store holds open, with and without /proc/locks", async () => {
    const locked = fresh()
    await makeDataDir(locked)
    const message = `${locked} is in use by a running node (LevelDB lock held); stop the node first`
    await Effect.gen(function* () {
      yield* LogStore
      const r = yield* Effect.promise(() => runCli("inspect", locked))
      expect(r.failure).toContain(message)
      const fallback = yield* Effect.either(inspectStore(locked, { procLocks: join(root, "no-such-file") }))
      expect(fallback._tag === "Left" && fallback.left.message).toBe(message)
    }).pipe(Effect.provide(layerLevel(locked)), Effect.scoped, Effect.runPromise)
    // Closed: both ways of looking at the lock let it through.
    const report = await Effect.runPromise(inspectStore(locked, { procLocks: join(root, "no-such-file") }))
    expect(report.groups).toHaveLength(2)
    expect((await runCli("inspect", locked)).failure).toBeUndefined()
  })

  it("reads the lock table's device:inode ids", () => {
    const table =
      "1: POSIX  ADVISORY  WRITE 7922 fe:00:2147052 0 EOF\n2: FLOCK  ADVISORY  WRITE 12 08:01:99 0 EOF\n"
    expect(locksFile(table, "fe:00:2147052")).toBe(true)
    expect(locksFile(table, "fe:00:214705")).toBe(false)
  })

  it("refuses a missing directory, a directory that is not a store, and a damaged LevelDB", async () => {
    const missing = join(root, "nowhere")
    expect((await runCli("inspect", missing)).failure).toContain(`${missing} does not exist`)
    const empty = fresh()
    mkdirSync(join(empty, "node-1"), { recursive: true })
    const notStore = await runCli("inspect", empty)
    expect(notStore.failure).toContain(`${empty} is not a Flotilla data dir: it has no FLOTILLA manifest`)
    expect(notStore.failure).toContain("node-N")
    const damaged = fresh()
    await makeDataDir(damaged)
    writeFileSync(join(damaged, "log-0", "CURRENT"), "MANIFEST-999999\n")
    expect((await runCli("inspect", damaged)).failure).toContain(
      `the LevelDB in ${join(damaged, "log-0")} cannot be read`,
    )
  })

  it("reports a record whose checksum fails with its group and index, and exits non-zero", async () => {
    const bad = fresh()
    await makeDataDir(bad)
    await flipRecordByte(bad, entryKey(G(7), 5))
    const r = await runCli("inspect", bad)
    expect(r.out).toContain("PROBLEMS (1):")
    expect(r.out).toContain("group 7 entry 5: checksum mismatch")
    expect(r.failure).toContain("1 record(s) failed their check")
    const doc = JSON.parse((await runCli("inspect", bad, "--json")).out)
    expect(doc.ok).toBe(false)
    expect(doc.problems).toEqual([
      {
        group: 7,
        record: "entry",
        index: 5,
        detail: "checksum mismatch",
        text: "group 7 entry 5: checksum mismatch",
      },
    ])
    // The damaged entry still counts in the log range: no gap is reported for it.
    expect(doc.groups[1].log).toMatchObject({ first: 4, last: 6, entries: 3 })
  })

  it("reports an entry missing from the middle of a log", async () => {
    const gap = fresh()
    await makeDataDir(gap)
    const db = new Level<Buffer, Buffer>(join(gap, "log-0"), {
      keyEncoding: "buffer",
      valueEncoding: "buffer",
    })
    await db.open()
    await db.del(entryKey(G(0), 2))
    await db.close()
    const doc = JSON.parse((await runCli("inspect", gap, "--json")).out)
    expect(doc.problems.map((p: { text: string }) => p.text)).toEqual(["group 0 entry 2: missing"])
  })

  it("reads a store of several LevelDB instances", async () => {
    const multi = fresh()
    await makeDataDir(multi, 3)
    const doc = JSON.parse((await runCli("inspect", multi, "--json")).out)
    expect(doc.store.instances).toBe(3)
    expect(doc.groups.map((g: { group: number; log: { last: number } }) => [g.group, g.log.last])).toEqual([
      [0, 4],
      [7, 6],
    ])
    expect(doc.ok).toBe(true)
  })

  it("reports a damaged hard state record and a damaged snapshot file", async () => {
    const bad = fresh()
    await makeDataDir(bad)
    await flipRecordByte(bad, groupKey(G(0), Kind.HardState))
    const [file] = readdirSync(join(bad, "snapshots"))
    const path = join(bad, "snapshots", file!)
    const bytes = readFileSync(path)
    bytes[bytes.length - 1]! ^= 1
    writeFileSync(path, bytes)
    const doc = JSON.parse((await runCli("inspect", bad, "--json")).out)
    expect(doc.problems.map((p: { text: string }) => p.text)).toEqual([
      "group 0 hardState: checksum mismatch",
      `group 7 snapshotFile 3: ${file}: data checksum mismatch`,
    ])
  })
})

describe("the configuration a group restarts with", () => {
  const change = (...changes: Array<[number, number]>) =>
    confChange(changes.map(([type, id]) => ({ type: type as 0 | 1 | 2, nodeId: id as ReplicaId })))

  it("applies the committed changes after the snapshot as the core does, joint ones included", () => {
    const replace = change([ConfChangeType.AddNode, 4], [ConfChangeType.RemoveNode, 3])
    const joint = replayConfChanges(conf(1, 2, 3), [{ index: 5, change: replace }])
    expect(joint.confState).toMatchObject({ voters: [1, 2, 4], votersOutgoing: [1, 2, 3], autoLeave: true })
    const left = replayConfChanges(conf(1, 2, 3), [
      { index: 5, change: replace },
      { index: 6, change: change() },
      { index: 7, change: change([ConfChangeType.AddLearner, 5]) },
    ])
    expect(left).toEqual({ confState: { ...conf(1, 2, 4), learners: [5] }, refused: [] })
  })

  it("skips a change the core refuses, and says why", () => {
    const r = replayConfChanges(conf(1), [{ index: 3, change: change() }])
    expect(r.confState).toEqual(conf(1))
    expect(r.refused).toEqual([{ index: 3, reason: expect.stringContaining("joint") }])
  })
})
