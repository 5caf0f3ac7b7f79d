/**
 * What only the LevelDB store has: bytes on a real disk. Damage written into LevelDB and into
 * snapshot files, the snapshot file protocol, lazy deletion of compacted entries, K instances,
 * directory problems (missing, not a directory, read-only, full) and the lock between processes.
 */
import { execFileSync, spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, unlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { Level } from "level"
import {
  entryKey,
  GROUP_KEY_BYTES,
  groupKey,
  indexOfEntryKey,
  Kind,
} from "../../src/storage/internal/Codec.js"
import { LogStore, layerLevel } from "../../src/storage/LogStore.js"
import {
  CorruptedEntry,
  CorruptedMetadata,
  CorruptedSnapshot,
  DiskFull,
  StoreLocked,
  StoreUnavailable,
} from "../../src/storage/StoreErrors.js"
import { entries, G, hs, snapshot } from "./harness.js"

const REPO = join(import.meta.dirname, "../..")

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "flotilla-leveldisk-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true })),
)

/** Runs `f` on the raw LevelDB instance `k` of a closed store. */
const raw = <A>(dir: string, f: (db: Level<Buffer, Buffer>) => Promise<A>, k = 0) =>
  Effect.promise(async () => {
    const db = new Level<Buffer, Buffer>(join(dir, `log-${k}`), {
      keyEncoding: "buffer",
      valueEncoding: "buffer",
    })
    await db.open()
    try {
      return await f(db)
    } finally {
      await db.close()
    }
  })

const store = <A, E>(dir: string, f: (s: LogStore["Type"]) => Effect.Effect<A, E>) =>
  Effect.flatMap(LogStore, f).pipe(Effect.provide(layerLevel(dir)))

const snapFiles = (dir: string) => readdirSync(join(dir, "snapshots")).sort()

/** Mounts a tmpfs (root only); undefined when this machine does not allow it. */
const mountTmpfs = (dir: string, options: string): boolean => {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}
const unmount = (dir: string) => {
  try {
    execFileSync("umount", [dir], { stdio: "ignore" })
  } catch {}
}

describe("LevelDB store on disk", () => {
  it.scopedLive("detects an entry damaged on disk and stops only its group", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* store(dir, (s) =>
        s.write([
          { groupId: G(1), entries: entries(1, 1, 5, 1) },
          { groupId: G(2), entries: entries(2, 1, 5, 1), hardState: hs(1, 2, 3) },
          { groupId: G(3), entries: entries(3, 1, 2, 1), hardState: hs(1, 2, 2) },
        ]),
      )
      yield* raw(dir, async (db) => {
        const key = entryKey(G(1), 3)
        const value = (await db.get(key))!
        value[value.length - 1] = value[value.length - 1]! ^ 0x20
        await db.put(key, value)
        const hsKey = groupKey(G(3), Kind.HardState)
        const hsValue = (await db.get(hsKey))!
        hsValue[8] = hsValue[8]! ^ 0x01
        await db.put(hsKey, hsValue)
      })
      yield* store(dir, (s) =>
        Effect.gen(function* () {
          const err = yield* Effect.flip(s.entries(G(1), 1, 6))
          expect(err).toBeInstanceOf(CorruptedEntry)
          expect(err).toMatchObject({ groupId: G(1), index: 3, dir })
          expect(err.message).toMatch(/group 1: log entry 3 in .* is corrupted \(checksum mismatch\)/)
          const meta = yield* Effect.flip(s.load(G(3)))
          expect(meta).toBeInstanceOf(CorruptedMetadata)
          expect(meta.message).toContain("hardState")
          expect(yield* s.groups).toEqual([G(1), G(2), G(3)])
          expect((yield* s.load(G(2))).entries.length).toBe(5)
          yield* s.write([{ groupId: G(2), entries: entries(2, 6, 6, 1) }])
        }),
      )
    }),
  )

  it.scopedLive("reopens short logs read through by the scan and long ones skipped by it, alike", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      // The scan reads a log of up to 4,096 entries through and keeps it for the group's load;
      // a longer one it skips with a seek. Either way the groups after it must be found whole.
      const sizes = new Map([
        [1, 5_000],
        [2, 3],
        [3, 4_096],
        [4, 4_095],
        [5, 40],
        [6, 12],
        [7, 2],
      ])
      yield* store(dir, (s) =>
        Effect.gen(function* () {
          for (const [g, n] of sizes)
            yield* s.write([{ groupId: G(g), entries: entries(g, 1, n, 1), hardState: hs(1, 1, n) }])
          // Group 5: entries at or below its floor stay on disk as garbage until swept.
          yield* s.saveSnapshot(G(5), snapshot(5, 30, 1))
          yield* s.compact(G(5), 30)
        }),
      )
      // Group 6: a malformed entry key in the middle of its log.
      yield* raw(dir, (db) => db.put(Buffer.concat([entryKey(G(6), 6), Buffer.from([0])]), Buffer.alloc(8)))
      yield* store(dir, (s) =>
        Effect.gen(function* () {
          // A write before the group's first read replaces what the scan kept of it.
          yield* s.write([{ groupId: G(2), entries: entries(2, 2, 4, 2) }])
          expect((yield* s.entries(G(2), 1, 5)).map((e) => e.term)).toEqual([1, 2, 2, 2])
          for (const [g, n] of sizes) {
            if (g === 6 || g === 2) continue
            const loaded = yield* s.load(G(g))
            const first = g === 5 ? 31 : 1
            expect([loaded.firstIndex, loaded.lastIndex, loaded.entries.length]).toEqual([
              first,
              n,
              n - first + 1,
            ])
            expect(loaded.entries.map((e) => e.data)).toEqual(entries(g, first, n, 1).map((e) => e.data))
          }
          const bad = yield* Effect.flip(s.load(G(6)))
          expect(bad).toBeInstanceOf(CorruptedMetadata)
          expect(bad.message).toContain("malformed entry key")
          expect((yield* s.entries(G(7), 1, 3)).map((e) => e.index)).toEqual([1, 2])
          expect((yield* s.entries(G(7), 2, 3)).map((e) => e.index)).toEqual([2])
        }),
      )
    }),
  )

  it.scopedLive("writes snapshot files durably, keeps one per group, cleans leftovers at open", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* store(dir, (s) =>
        Effect.gen(function* () {
          yield* s.write([{ groupId: G(1), entries: entries(1, 1, 30, 1) }])
          for (const i of [10, 20, 30]) yield* s.saveSnapshot(G(1), snapshot(1, i, 1, 5000))
          yield* s.write([{ groupId: G(2), snapshot: snapshot(2, 7, 2) }])
        }),
      )
      const files = snapFiles(dir)
      expect(files.length).toBe(2)
      expect(files.every((f) => f.endsWith(".snap"))).toBe(true)
      expect(files.some((f) => f.startsWith("g00000001-i30-t1-"))).toBe(true)
      writeFileSync(join(dir, "snapshots", "g00000001-i5-t1-0123456789ab.snap"), "orphan")
      writeFileSync(join(dir, "snapshots", "g00000002-i9-t2-0123456789ab.snap.tmp"), "torn")
      yield* store(dir, (s) =>
        Effect.gen(function* () {
          expect(snapFiles(dir)).toEqual(files)
          const loaded = yield* s.loadSnapshot(G(1))
          expect(loaded._tag === "Some" && loaded.value.data.length).toBe(5000)
        }),
      )
      // A truncated file is reported with its path; a missing one stops the group at open.
      const g1 = files.find((f) => f.startsWith("g00000001"))!
      const g2 = files.find((f) => f.startsWith("g00000002"))!
      truncateSync(join(dir, "snapshots", g1), 100)
      unlinkSync(join(dir, "snapshots", g2))
      yield* store(dir, (s) =>
        Effect.gen(function* () {
          const e1 = yield* Effect.flip(s.loadSnapshot(G(1)))
          expect(e1).toBeInstanceOf(CorruptedSnapshot)
          expect(e1.message).toContain(join(dir, "snapshots", g1))
          const e2 = yield* Effect.flip(s.load(G(2)))
          expect(e2).toBeInstanceOf(CorruptedSnapshot)
          expect(e2.message).toContain("missing")
        }),
      )
    }),
  )

  it.scopedLive("deletes compacted entries from LevelDB after compaction", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* store(dir, (s) =>
        Effect.gen(function* () {
          for (let k = 0; k < 6; k++)
            yield* s.write([{ groupId: G(1), entries: entries(1, k * 500 + 1, k * 500 + 500, 1) }])
          yield* s.write([{ groupId: G(1), savedSnapshot: snapshot(1, 2500, 1), compactTo: 2500 }])
          yield* s.write([{ groupId: G(2), snapshot: snapshot(2, 40, 1) }])
        }),
      )
      const indexes = yield* raw(dir, async (db) =>
        (await db.keys({ gte: groupKey(G(1), 0), lt: groupKey(G(1), 0xff) }).all())
          .filter((k) => k.length > GROUP_KEY_BYTES)
          .map(indexOfEntryKey),
      )
      expect(indexes.length).toBe(500)
      expect(Math.min(...indexes)).toBe(2501)
      yield* store(dir, (s) =>
        Effect.gen(function* () {
          expect(yield* s.firstIndex(G(1))).toBe(2501)
          expect(yield* s.term(G(1), 2500)).toBe(1)
        }),
      )
    }),
  )

  it.scopedLive("spreads groups over K instances; K is fixed when the store is created", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* Effect.flatMap(LogStore, (s) =>
        s.write(
          Array.from({ length: 9 }, (_, k) => ({ groupId: G(k + 1), entries: entries(k + 1, 1, 3, 1) })),
        ),
      ).pipe(Effect.provide(layerLevel(dir, { instances: 3 })))
      expect(
        readdirSync(dir)
          .filter((f) => f.startsWith("log-"))
          .sort(),
      ).toEqual(["log-0", "log-1", "log-2"])
      yield* store(dir, (s) =>
        Effect.gen(function* () {
          expect(yield* s.groups).toEqual(Array.from({ length: 9 }, (_, k) => G(k + 1)))
          expect((yield* s.load(G(5))).entries.length).toBe(3)
        }),
      )
      const wrongK = yield* Effect.flip(Effect.provide(LogStore, layerLevel(dir, { instances: 2 })))
      expect(wrongK).toBeInstanceOf(StoreUnavailable)
      expect(wrongK.message).toContain("created with 3")
    }),
  )

  it.scopedLive("reports a missing, misplaced or read-only directory clearly", (ctx) =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const open = (path: string, createIfMissing = true) =>
        Effect.flip(Effect.provide(LogStore, layerLevel(path, { createIfMissing })))
      const noParent = yield* open(join(dir, "missing", "store"))
      expect(noParent).toBeInstanceOf(StoreUnavailable)
      expect(noParent.message).toContain(`storage directory ${join(dir, "missing", "store")} is unavailable`)
      expect(noParent.message).toContain("parent directory")
      const noCreate = yield* open(join(dir, "absent"), false)
      expect(noCreate.message).toContain("does not exist")
      writeFileSync(join(dir, "file"), "x")
      const notDir = yield* open(join(dir, "file"))
      expect(notDir.message).toContain("not a directory")
      const ro = join(dir, "ro")
      mkdirSync(ro)
      if (!mountTmpfs(ro, "ro,size=1m")) return ctx.skip("mounting a read-only tmpfs is not permitted here")
      yield* Effect.addFinalizer(() => Effect.sync(() => unmount(ro)))
      const readOnly = yield* open(ro)
      expect(readOnly).toBeInstanceOf(StoreUnavailable)
      expect(readOnly.message).toContain(ro)
      expect(readOnly.message).toContain("read-only")
    }),
  )

  it.scopedLive("a full disk fails the write clearly and loses nothing acknowledged", (ctx) =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const mnt = join(dir, "small")
      mkdirSync(mnt)
      if (!mountTmpfs(mnt, "size=2m")) return ctx.skip("mounting a tmpfs is not permitted here")
      yield* Effect.addFinalizer(() => Effect.sync(() => unmount(mnt)))
      const path = join(mnt, "store")
      const big = (i: number) => ({
        index: i,
        term: 1,
        type: 0 as const,
        data: new Uint8Array(60_000).fill(i & 0xff),
      })
      const acked = yield* store(path, (s) =>
        Effect.gen(function* () {
          let last = 0
          for (;;) {
            const r = yield* Effect.either(
              s.write([{ groupId: G(1), entries: [big(last + 1), big(last + 2)] }]),
            )
            if (Either.isLeft(r)) {
              expect(r.left).toBeInstanceOf(DiskFull)
              expect(r.left.message).toContain(path)
              expect(r.left.message).toContain("full")
              // The store is stopped: later calls fail with the same error.
              expect(yield* Effect.flip(s.write([{ groupId: G(2), hardState: hs(1, 1, 0) }]))).toBe(r.left)
              return last
            }
            last += 2
            if (last > 200) throw new Error("2 MiB tmpfs never filled up")
          }
        }),
      )
      expect(acked).toBeGreaterThan(0)
      execFileSync("mount", ["-o", "remount,size=64m", mnt])
      yield* store(path, (s) =>
        Effect.gen(function* () {
          const loaded = yield* s.load(G(1))
          expect(loaded.lastIndex).toBeGreaterThanOrEqual(acked)
          for (let i = 1; i <= acked; i++) expect(loaded.entries[i - 1]!.data[0]).toBe(i & 0xff)
          yield* s.write([{ groupId: G(1), entries: [big(loaded.lastIndex + 1)] }])
        }),
      )
    }),
  )

  it.scopedLive("a snapshot that does not fit fails alone with DiskFull; the store goes on", (ctx) =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const mnt = join(dir, "small")
      mkdirSync(mnt)
      if (!mountTmpfs(mnt, "size=4m")) return ctx.skip("mounting a tmpfs is not permitted here")
      yield* Effect.addFinalizer(() => Effect.sync(() => unmount(mnt)))
      const path = join(mnt, "store")
      yield* store(path, (s) =>
        Effect.gen(function* () {
          yield* s.write([{ groupId: G(1), entries: entries(1, 1, 20, 1) }])
          const filler = join(mnt, "filler")
          const free = Number(
            execFileSync("df", ["--output=avail", "-B1", mnt], { encoding: "utf8" }).split("\n")[1],
          )
          writeFileSync(filler, Buffer.alloc(Math.max(0, free - 256 * 1024)))
          const err = yield* Effect.flip(s.saveSnapshot(G(1), snapshot(1, 10, 1, 1024 * 1024)))
          expect(err).toBeInstanceOf(DiskFull)
          expect(err.message).toContain(path)
          expect(snapFiles(path)).toEqual([])
          unlinkSync(filler)
          yield* s.saveSnapshot(G(1), snapshot(1, 10, 1, 1024 * 1024))
          yield* s.write([{ groupId: G(1), entries: entries(1, 21, 22, 1), compactTo: 10 }])
          expect(yield* s.firstIndex(G(1))).toBe(11)
        }),
      )
    }),
  )

  it.scopedLive("without group commit, concurrent calls still apply in order per group", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* Effect.gen(function* () {
        const s = yield* LogStore
        const calls = []
        for (let round = 0; round < 5; round++)
          for (let g = 1; g <= 10; g++)
            calls.push(
              s.write([{ groupId: G(g), entries: entries(g, round * 2 + 1, round * 2 + 2, round + 1) }]),
            )
        yield* Effect.all(calls, { concurrency: "unbounded" })
        const stats = yield* s.stats
        expect(stats.batches).toBe(50)
        for (let g = 1; g <= 10; g++) {
          const loaded = yield* s.load(G(g))
          expect(loaded.entries.map((e) => e.term)).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
        }
      }).pipe(Effect.provide(layerLevel(dir, { groupCommit: false })))
    }),
  )

  it.scopedLive("a second process gets StoreLocked naming the directory, and changes nothing", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const answer = yield* store(dir, (s) =>
        Effect.gen(function* () {
          yield* s.write([{ groupId: G(1), entries: entries(1, 1, 3, 1), hardState: hs(1, 1, 3) }])
          return yield* Effect.promise(
            () =>
              new Promise<string>((resolve, reject) => {
                const child = spawn(
                  process.execPath,
                  ["--import", "tsx", join(import.meta.dirname, "child.ts"), "open", dir],
                  {
                    cwd: REPO,
                    stdio: ["ignore", "pipe", "inherit"],
                  },
                )
                let out = ""
                child.stdout.on("data", (d: Buffer) => {
                  out += d.toString("utf8")
                })
                child.on("error", reject)
                child.on("exit", () => resolve(out.trim()))
              }),
          )
        }),
      )
      const parsed = JSON.parse(answer) as { tag: string; message: string }
      expect(parsed.tag).toBe("StoreLocked")
      expect(parsed.message).toBe(new StoreLocked({ dir }).message)
      yield* store(dir, (s) =>
        Effect.gen(function* () {
          expect((yield* s.load(G(1))).entries.length).toBe(3)
          expect(yield* s.hardState(G(1))).toEqual(hs(1, 1, 3))
        }),
      )
    }),
  )
})
