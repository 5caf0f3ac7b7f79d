/**
 * Turns file-system and LevelDB failures into the store's tagged errors, with a reason a person
 * can act on. LevelDB reports POSIX errors as text ("IO error: <file>: No space left on
 * device"); Node reports them as codes (`ENOSPC`); both are recognised.
 */
import {
  DiskFull,
  isStoreError,
  type StoreError,
  StoreLocked,
  StoreUnavailable,
  WriteFailed,
} from "../StoreErrors.js"

type Phase = "open" | "write" | "read"

const text = (e: unknown): string => {
  const parts: string[] = []
  let cur: unknown = e
  for (let depth = 0; cur !== undefined && cur !== null && depth < 4; depth++) {
    const err = cur as { code?: unknown; message?: unknown; cause?: unknown }
    if (typeof err.code === "string") parts.push(err.code)
    if (typeof err.message === "string") parts.push(err.message)
    else if (typeof cur === "string") parts.push(cur)
    cur = err.cause
  }
  return parts.join(": ")
}

/** The most specific store error for `e`, which happened in `dir` while doing `phase`. */
export const classifyIoError = (dir: string, e: unknown, phase: Phase): StoreError => {
  if (isStoreError(e)) return e
  const t = text(e)
  if (/LEVEL_LOCKED|already held by process|Resource temporarily unavailable/.test(t))
    return new StoreLocked({ dir })
  if (/ENOSPC|No space left on device|EDQUOT|quota exceeded/i.test(t)) return new DiskFull({ dir, detail: t })
  if (/EROFS|Read-only file system/i.test(t))
    return new StoreUnavailable({ dir, reason: `the file system is read-only (${t})` })
  if (/EACCES|EPERM|Permission denied|Operation not permitted/i.test(t))
    return new StoreUnavailable({ dir, reason: `permission denied (${t})` })
  if (/ENOTDIR|Not a directory/i.test(t))
    return new StoreUnavailable({ dir, reason: `a path component is not a directory (${t})` })
  if (/ENOENT|No such file or directory/i.test(t) && phase !== "write")
    return new StoreUnavailable({ dir, reason: `a file or directory is missing (${t})` })
  if (phase === "open") return new StoreUnavailable({ dir, reason: t })
  if (phase === "read") return new StoreUnavailable({ dir, reason: `read failed (${t})` })
  return new WriteFailed({ dir, reason: t })
}
