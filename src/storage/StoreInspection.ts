/**
 * Offline inspection of a stopped node's store, read-only: `flotilla inspect` uses it.
 *
 * It never writes in the store's directory. It refuses a store whose LevelDB lock is held
 * (`inspect/LockProbe.ts`), copies each LevelDB instance to a temporary directory
 * (`inspect/StoreCopy.ts`: opening a LevelDB writes, so the copy is what gets opened), checks
 * the lock again (a node that started during the copy makes the copy worthless), then reads
 * every record, checking its CRC-32 as the store does on reads, and reads every snapshot file a
 * record points to, checking its header and data checksum. Records that fail are reported with
 * their group and index; they do not stop the inspection. Why a copy: docs/decisions/0100.
 */
import { mkdtemp, readdir, rm, stat } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { Data, Effect } from "effect"
import { Level } from "level"
import { checkSnapshotFile, type GroupReport, groupReport } from "./inspect/GroupReport.js"
import { isLocked } from "./inspect/LockProbe.js"
import { type Problem, RecordScan, type Selection } from "./inspect/RecordScan.js"
import { copyLevelDir } from "./inspect/StoreCopy.js"
import type { Db } from "./internal/LevelBackend.js"
import { SnapshotFiles } from "./internal/SnapshotFiles.js"
import { MANIFEST, readManifest } from "./LevelLogStore.js"

export type { ConfChangeInfo, GroupReport, SnapshotInfo } from "./inspect/GroupReport.js"
export type { Problem, Selection } from "./inspect/RecordScan.js"

/** Why a directory cannot be inspected; `message` is the one line to print. */
export class InspectError extends Data.TaggedError("InspectError")<{
  readonly dir: string
  readonly reason: "missing" | "notStore" | "locked" | "corrupt" | "io"
  readonly message: string
}> {}

/** What the store holds, and every record that failed its check. */
export interface StoreReport {
  readonly dir: string
  readonly instances: number
  /** Records read (each one checked). */
  readonly records: number
  /** Snapshot files read and checked. */
  readonly snapshotFiles: number
  /** Files in `snapshots/` no record points to (the next open of the store deletes them). */
  readonly unreferencedFiles: ReadonlyArray<string>
  /** Bytes of the LevelDB instances' and the snapshots' files. */
  readonly diskBytes: number
  readonly groups: ReadonlyArray<GroupReport>
  readonly problems: ReadonlyArray<Problem>
}

export interface InspectOptions {
  /** Entries to decode and return (`GroupReport.selected`). */
  readonly selection?: Selection | undefined
  /** The lock table to read (tests): see `LockProbe.isLocked`. */
  readonly procLocks?: string | undefined
}

const code = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code
const text = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** Fails unless `root` is a directory holding a store manifest; answers its instance count. */
const checkStoreDir = async (root: string, fail: (r: InspectError["reason"], m: string) => never) => {
  const info = await stat(root).catch((e: unknown) =>
    code(e) === "ENOENT"
      ? fail("missing", `${root} does not exist`)
      : fail("io", `cannot read ${root}: ${text(e)}`),
  )
  if (!info.isDirectory()) fail("notStore", `${root} is not a directory`)
  const manifest = await readManifest(root).catch((e: unknown) =>
    fail("notStore", `${root} is not a Flotilla data dir: ${(e as { reason?: string }).reason ?? text(e)}`),
  )
  if (manifest === undefined) {
    const names = await readdir(root).catch(() => [] as string[])
    const hint = names.some((n) => /^node-\d+$/.test(n))
      ? ` (it looks like a \`flotilla dev\` directory: inspect one of its node-N directories)`
      : ""
    fail("notStore", `${root} is not a Flotilla data dir: it has no ${MANIFEST} manifest${hint}`)
  }
  return manifest!.instances
}

const sizeOf = async (dir: string): Promise<number> => {
  let bytes = 0
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => []))
    if (e.isFile()) bytes += (await stat(join(dir, e.name)).catch(() => ({ size: 0 }))).size
  return bytes
}

/** Opens the copy of one instance (never creating one) and scans it. */
const scanCopy = async (
  copy: string,
  original: string,
  scan: RecordScan,
  fail: (r: InspectError["reason"], m: string) => never,
) => {
  const db: Db = new Level<Buffer, Buffer>(copy, { keyEncoding: "buffer", valueEncoding: "buffer" })
  try {
    await db.open({ createIfMissing: false })
  } catch (e) {
    const cause = (e as { cause?: unknown }).cause ?? e
    const corrupt = code(cause) === "LEVEL_CORRUPTION" || /does not exist/.test(text(cause))
    fail(corrupt ? "corrupt" : "io", `the LevelDB in ${original} cannot be read: ${text(cause)}`)
  }
  try {
    await scan.scan(db)
  } catch (e) {
    fail(
      "corrupt",
      `the LevelDB in ${original} cannot be read: ${text((e as { cause?: unknown }).cause ?? e)}`,
    )
  } finally {
    await db.close().catch(() => {})
  }
}

const run = async (root: string, options: InspectOptions): Promise<StoreReport> => {
  const fail = (reason: InspectError["reason"], message: string): never => {
    throw new InspectError({ dir: root, reason, message })
  }
  const instances = await checkStoreDir(root, fail)
  const lockDir = join(root, "log-0")
  const locked = async () => {
    if (await isLocked(lockDir, options.procLocks))
      fail("locked", `${root} is in use by a running node (LevelDB lock held); stop the node first`)
  }
  await locked()
  const scan = new RecordScan(options.selection)
  const temp = await mkdtemp(join(tmpdir(), "flotilla-inspect-"))
  let diskBytes = 0
  try {
    for (let k = 0; k < instances; k++) {
      const original = join(root, `log-${k}`)
      await copyLevelDir(original, join(temp, `log-${k}`)).catch((e: unknown) =>
        code(e) === "ENOENT"
          ? fail("corrupt", `${root} is damaged: ${original} is missing`)
          : fail("io", `cannot copy ${original}: ${text(e)}`),
      )
      diskBytes += await sizeOf(original)
    }
    await locked()
    for (let k = 0; k < instances; k++)
      await scanCopy(join(temp, `log-${k}`), join(root, `log-${k}`), scan, fail)
  } finally {
    await rm(temp, { recursive: true, force: true })
  }
  const files = new SnapshotFiles(root, join(root, "snapshots"))
  const problems = [...scan.problems]
  let snapshotFiles = 0
  const referenced = new Set<string>()
  for (const g of scan.groups.values()) {
    if (await checkSnapshotFile(g, files, problems)) snapshotFiles++
    if (g.snapshot !== undefined) referenced.add(g.snapshot.file)
  }
  const names = await readdir(files.dir).catch(() => [] as string[])
  diskBytes += await sizeOf(files.dir)
  const groups = [...scan.groups.values()]
    .sort((a, b) => a.groupId - b.groupId)
    .map((g) => groupReport(g, problems))
  return {
    dir: root,
    instances,
    records: scan.records,
    snapshotFiles,
    unreferencedFiles: names.filter((n) => !referenced.has(n)).sort(),
    diskBytes,
    groups,
    problems: problems.sort((a, b) => (a.group ?? -1) - (b.group ?? -1) || (a.index ?? 0) - (b.index ?? 0)),
  }
}

/** Inspects the store in `dir` (see the module comment). */
export const inspectStore = (
  dir: string,
  options: InspectOptions = {},
): Effect.Effect<StoreReport, InspectError> =>
  Effect.tryPromise({
    try: () => run(resolve(dir), options),
    catch: (e) =>
      e instanceof InspectError
        ? e
        : new InspectError({
            dir: resolve(dir),
            reason: "io",
            message: `cannot inspect ${resolve(dir)}: ${text(e)}`,
          }),
  })
