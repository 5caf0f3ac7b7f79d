/**
 * Measures one LevelDB instance per group against one shared instance (docs/decisions/0010).
 * Not a test: run it by hand, on a machine as quiet as you can get.
 *
 *   npx tsx test/storage/measure-instances.ts [--seconds 3] [--groups 100,1000]
 *
 * Each case runs in its own child process (fresh RSS and descriptor table) and prints one JSON
 * line; the parent prints them all. For G groups:
 * - `per-group`: G LevelDB instances. Open time (first open, and reopen with data), open file
 *   descriptors, RSS after opening and after writing, and durable entries per second when every
 *   instance does one synced 128-byte put per round, all instances concurrently.
 * - `shared`: one instance with G key prefixes. Same figures; a round is one synced chained
 *   batch holding one 128-byte entry per group.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Level } from "level"

type Db = Level<Buffer, Buffer>

const arg = (name: string, fallback: string): string => {
  const at = process.argv.indexOf(`--${name}`)
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback
}

const fds = (): number => readdirSync("/proc/self/fd").length
const rssMb = (): number => Math.round(process.memoryUsage().rss / 1024 / 1024)
const ms = (t: number): number => Math.round((performance.now() - t) * 10) / 10
const VALUE = Buffer.alloc(128, 0x5a)

const key = (group: number, index: number): Buffer => {
  const k = Buffer.alloc(13)
  k.writeUInt32BE(group, 0)
  k[4] = 4
  k.writeUInt32BE(Math.floor(index / 2 ** 32), 5)
  k.writeUInt32BE(index >>> 0, 9)
  return k
}

const openAll = async (paths: string[]): Promise<Db[]> => {
  const dbs = paths.map(
    (p) => new Level<Buffer, Buffer>(p, { keyEncoding: "buffer", valueEncoding: "buffer" }),
  )
  await Promise.all(dbs.map((db) => db.open()))
  return dbs
}

const measure = async (mode: "per-group" | "shared", groups: number, seconds: number) => {
  const dir = mkdtempSync(join(tmpdir(), "flotilla-instances-"))
  try {
    const paths =
      mode === "shared" ? [join(dir, "shared")] : Array.from({ length: groups }, (_, g) => join(dir, `g${g}`))
    const fdsBefore = fds()
    let t = performance.now()
    let dbs = await openAll(paths)
    const openMs = ms(t)
    const fdsOpen = fds() - fdsBefore
    const rssOpen = rssMb()
    let index = 0
    const round = async () => {
      index++
      if (mode === "shared") {
        const b = dbs[0]!.batch()
        for (let g = 0; g < groups; g++) b.put(key(g, index), VALUE)
        await b.write({ sync: true })
      } else await Promise.all(dbs.map((db, g) => db.put(key(g, index), VALUE, { sync: true })))
    }
    await round()
    t = performance.now()
    let rounds = 0
    while (performance.now() - t < seconds * 1000) {
      await round()
      rounds++
    }
    const entriesPerSec = Math.round((rounds * groups) / ((performance.now() - t) / 1000))
    const rssWritten = rssMb()
    const fdsWritten = fds() - fdsBefore
    await Promise.all(dbs.map((db) => db.close()))
    t = performance.now()
    dbs = await openAll(paths)
    const reopenMs = ms(t)
    await Promise.all(dbs.map((db) => db.close()))
    return {
      mode,
      groups,
      instances: paths.length,
      openMs,
      reopenMs,
      fdsOpen,
      fdsWritten,
      rssOpenMb: rssOpen,
      rssWrittenMb: rssWritten,
      durableEntriesPerSec: entriesPerSec,
      seconds,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const child = process.argv.indexOf("--child")
if (child >= 0) {
  const [mode, groups, seconds] = process.argv.slice(child + 1)
  measure(mode as "per-group" | "shared", Number(groups), Number(seconds)).then(
    (r) => console.log(JSON.stringify(r)),
    (e: unknown) => {
      console.error(e)
      process.exit(1)
    },
  )
} else {
  const seconds = arg("seconds", "3")
  for (const groups of arg("groups", "100,1000").split(",")) {
    for (const mode of ["shared", "per-group"]) {
      const out = execFileSync(
        process.execPath,
        ["--import", "tsx", import.meta.filename, "--child", mode, groups, seconds],
        {
          encoding: "utf8",
          stdio: ["ignore", "pipe", "inherit"],
        },
      )
      process.stdout.write(out)
    }
  }
}
