/**
 * The LevelDB `LogStore`: every group of a node in one LevelDB (or K of them, group `g` in
 * instance `g % K`), snapshot data in files beside it.
 *
 * Directory layout:
 *
 * ```
 * <dir>/FLOTILLA        manifest: format version and K, written once when the store is created
 * <dir>/log-0 … log-K-1 LevelDB instances (log-0's LOCK is the store's lock)
 * <dir>/snapshots/      snapshot files (see SnapshotFiles)
 * ```
 *
 * Opening checks the directory first (missing parent, not a directory, not writable: a clear
 * `StoreUnavailable`), then opens `log-0`, whose LevelDB lock makes a second opener (another
 * process, or another store in this process) fail with `StoreLocked` before it touches anything.
 * Only then is the manifest read or written, the other instances opened, leftover temporary and
 * unreferenced snapshot files removed, and every group's records read into memory.
 *
 * Why one LevelDB for thousands of groups and not one each: docs/decisions/0010.
 */
import { constants } from "node:fs"
import { access, mkdir, readFile, stat } from "node:fs/promises"
import { dirname, join, resolve } from "node:path"
import { Effect, type Scope } from "effect"
import { Level } from "level"
import { writeFileAtomically } from "./AtomicFile.js"
import type { FaultPlan } from "./internal/FaultPlan.js"
import { classifyIoError } from "./internal/IoErrors.js"
import { type Db, LevelBackend } from "./internal/LevelBackend.js"
import { SnapshotFiles, syncDir } from "./internal/SnapshotFiles.js"
import { scopedService } from "./internal/StoreService.js"
import type { LogStoreService } from "./LogStoreService.js"
import { type StoreError, StoreUnavailable } from "./StoreErrors.js"

/** Options of a LevelDB store. */
export interface LevelOptions {
  /**
   * Number of LevelDB instances K, fixed when the store is created (default 1). Opening an
   * existing store with a different K fails; leave it out to use the stored value.
   */
  readonly instances?: number | undefined
  /** Create `dir` when it is missing (its parent must exist). Default true. */
  readonly createIfMissing?: boolean | undefined
  /**
   * Group commit (default true). `false` writes every `write` call as its own synced batch,
   * calls for disjoint groups concurrently: only for measuring what group commit saves.
   */
  readonly groupCommit?: boolean | undefined
  /** LevelDB block cache per instance, bytes (LevelDB default 8 MiB). */
  readonly cacheSize?: number | undefined
  /** LevelDB memtable size per instance, bytes (default here 16 MiB). */
  readonly writeBufferSize?: number | undefined
  /** LevelDB open-file limit per instance (LevelDB default 1000). */
  readonly maxOpenFiles?: number | undefined
}

/** The manifest's file name. */
export const MANIFEST = "FLOTILLA"
const FORMAT = "flotilla-logstore"
const VERSION = 1

/** The manifest: what the directory holds. */
export interface Manifest {
  readonly format: string
  readonly version: number
  readonly instances: number
}

const code = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code

/** Checks (and creates, when allowed) the directory; every failure is a `StoreUnavailable`. */
const prepareDir = async (dir: string, create: boolean): Promise<void> => {
  let info: Awaited<ReturnType<typeof stat>>
  try {
    info = await stat(dir)
  } catch (e) {
    if (code(e) !== "ENOENT") throw classifyIoError(dir, e, "open")
    if (!create) throw new StoreUnavailable({ dir, reason: "the directory does not exist" })
    try {
      await mkdir(dir)
      await syncDir(dirname(dir)).catch(() => {})
      return
    } catch (e2) {
      if (code(e2) === "ENOENT")
        throw new StoreUnavailable({ dir, reason: `its parent directory ${dirname(dir)} does not exist` })
      if (code(e2) !== "EEXIST") throw classifyIoError(dir, e2, "open")
      // Created by someone else meanwhile: check it like an existing one.
      info = await stat(dir).catch((e3: unknown) => {
        throw classifyIoError(dir, e3, "open")
      })
    }
  }
  if (!info.isDirectory())
    throw new StoreUnavailable({ dir, reason: "the path exists but is not a directory" })
  try {
    await access(dir, constants.R_OK | constants.W_OK | constants.X_OK)
  } catch (e) {
    throw classifyIoError(dir, e, "open")
  }
}

/** The manifest of `dir`; undefined when there is none (a StoreUnavailable when it is bad). */
export const readManifest = async (dir: string): Promise<Manifest | undefined> => {
  let text: string
  try {
    text = await readFile(join(dir, MANIFEST), "utf8")
  } catch (e) {
    if (code(e) === "ENOENT") return undefined
    throw classifyIoError(dir, e, "open")
  }
  let m: Partial<Manifest>
  try {
    m = JSON.parse(text) as Partial<Manifest>
  } catch {
    throw new StoreUnavailable({ dir, reason: `the manifest ${MANIFEST} is not valid JSON` })
  }
  if (m.format !== FORMAT || m.version !== VERSION || !Number.isInteger(m.instances) || m.instances! < 1)
    throw new StoreUnavailable({
      dir,
      reason: `the manifest ${MANIFEST} is not a ${FORMAT} v${VERSION} manifest`,
    })
  return m as Manifest
}

const writeManifest = async (dir: string, instances: number): Promise<Manifest> => {
  const m: Manifest = { format: FORMAT, version: VERSION, instances }
  await writeFileAtomically(join(dir, MANIFEST), `${JSON.stringify(m)}\n`)
  return m
}

const openDb = async (dir: string, k: number, options: LevelOptions): Promise<Db> => {
  const db = new Level<Buffer, Buffer>(join(dir, `log-${k}`), {
    keyEncoding: "buffer",
    valueEncoding: "buffer",
    writeBufferSize: options.writeBufferSize ?? 16 * 1024 * 1024,
    ...(options.cacheSize === undefined ? {} : { cacheSize: options.cacheSize }),
    ...(options.maxOpenFiles === undefined ? {} : { maxOpenFiles: options.maxOpenFiles }),
  })
  try {
    await db.open({ createIfMissing: true })
  } catch (e) {
    throw classifyIoError(dir, e, "open")
  }
  return db
}

/** Opens the back end of a LevelDB store; on failure everything opened so far is closed. */
const openBackend = async (dir: string, options: LevelOptions = {}): Promise<LevelBackend> => {
  const root = resolve(dir)
  if (options.instances !== undefined && (!Number.isInteger(options.instances) || options.instances < 1))
    throw new StoreUnavailable({
      dir: root,
      reason: `instances must be a positive integer, got ${options.instances}`,
    })
  await prepareDir(root, options.createIfMissing ?? true)
  const dbs: Db[] = [await openDb(root, 0, options)]
  try {
    const manifest = (await readManifest(root)) ?? (await writeManifest(root, options.instances ?? 1))
    if (options.instances !== undefined && options.instances !== manifest.instances)
      throw new StoreUnavailable({
        dir: root,
        reason: `it was created with ${manifest.instances} LevelDB instance(s) and cannot be opened with ${options.instances}`,
      })
    for (let k = 1; k < manifest.instances; k++) dbs.push(await openDb(root, k, options))
    const files = new SnapshotFiles(root, join(root, "snapshots"))
    await mkdir(files.dir, { recursive: true })
    await syncDir(root)
    const backend = new LevelBackend(root, dbs, files)
    await backend.scan()
    return backend
  } catch (e) {
    await Promise.all(dbs.map((db) => db.close().catch(() => {})))
    throw classifyIoError(root, e, "open")
  }
}

/**
 * The LevelDB store in `dir`, open for the scope's lifetime. `faults` is how `FaultyLogStore`
 * arms fault injection; leave it out.
 */
export const make = (
  dir: string,
  options: LevelOptions = {},
  faults?: FaultPlan,
): Effect.Effect<LogStoreService, StoreError, Scope.Scope> =>
  scopedService(
    Effect.tryPromise({
      try: () => openBackend(dir, options),
      catch: (e) => classifyIoError(resolve(dir), e, "open"),
    }),
    faults,
    options.groupCommit ?? true,
  )
