/**
 * Whether a LevelDB directory is open in some process, found WITHOUT writing anything.
 *
 * LevelDB holds a POSIX record lock (`fcntl`) on `<db>/LOCK` while it is open. Opening the
 * database to test that lock would write (a new MANIFEST, a new log, the info log), so on
 * Linux the lock table `/proc/locks` is read instead: a lock on the LOCK file's device and
 * inode means the directory is in use, whether by another process or by this one.
 *
 * Where there is no `/proc/locks` (macOS), LevelDB itself is asked with
 * `createIfMissing: false, errorIfExists: true`: it takes the lock and gives up at once, before
 * reading or writing any data file. The only trace it can leave is LevelDB's own info log
 * (`LOG` renamed to `LOG.old`, a new `LOG`), never a record (docs/decisions/0100).
 */
import { readFile, stat } from "node:fs/promises"
import { Level } from "level"

const code = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code

/** `major:minor:inode` as `/proc/locks` prints it (major and minor in hex). */
const lockId = (dev: bigint, ino: bigint): string => {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn)
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn)
  return `${major.toString(16).padStart(2, "0")}:${minor.toString(16).padStart(2, "0")}:${ino}`
}

/** True when a line of `/proc/locks` text locks the file `id` names. */
export const locksFile = (procLocks: string, id: string): boolean =>
  procLocks.split("\n").some((line) => line.split(/\s+/).includes(id))

/** Asks LevelDB (see the module comment); true when the lock is held. */
const probeWithLevel = async (dbDir: string): Promise<boolean> => {
  const db = new Level(dbDir)
  try {
    await db.open({ createIfMissing: false, errorIfExists: true })
    await db.close()
    return false
  } catch (e) {
    const cause = (e as { cause?: unknown }).cause
    return code(cause) === "LEVEL_LOCKED" || code(e) === "LEVEL_LOCKED"
  }
}

/**
 * Whether the LevelDB in `dbDir` is open now. `procLocks` is the lock table to read (tests
 * pass a missing path to exercise the fallback).
 */
export const isLocked = async (dbDir: string, procLocks = "/proc/locks"): Promise<boolean> => {
  let info: { dev: bigint; ino: bigint }
  try {
    info = await stat(`${dbDir}/LOCK`, { bigint: true })
  } catch (e) {
    if (code(e) === "ENOENT") return false // LevelDB creates LOCK on its first open: never opened
    throw e
  }
  let table: string
  try {
    table = await readFile(procLocks, "utf8")
  } catch {
    return probeWithLevel(dbDir)
  }
  return locksFile(table, lockId(info.dev, info.ino))
}
