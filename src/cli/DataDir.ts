/**
 * Checks a `--data-dir` before a node opens it, so that a bad one is refused with one accurate
 * line rather than a store error later: a path that is a file, under a file, on a read-only
 * file system (EROFS) or not writable (EACCES/EPERM) is named as such. Creates the directory
 * when it is missing.
 */
import { mkdirSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"

/** The reason an fs error code gives, in words (`fallback` for the others). */
export const explainCode = (code: string | undefined, fallback: string): string => {
  switch (code) {
    case "EROFS":
      return "it is on a read-only file system"
    case "EACCES":
    case "EPERM":
      return "permission denied"
    case "ENOTDIR":
      return "a part of its path is a file, not a directory"
    case "ENOSPC":
      return "the disk is full"
    case "EEXIST":
      return "a file of that name is in the way"
    default:
      return fallback
  }
}

const codeOf = (e: unknown): string | undefined =>
  e !== null && typeof e === "object" && "code" in e && typeof e.code === "string" ? e.code : undefined

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** Why `dir` cannot hold a node's data (undefined when it can: it exists now and is writable). */
export const checkDataDir = (dir: string): string | undefined => {
  try {
    const s = statSync(dir, { throwIfNoEntry: false })
    if (s !== undefined && !s.isDirectory()) return `data directory ${dir} is a file, not a directory`
    if (s === undefined) mkdirSync(dir, { recursive: true })
  } catch (e) {
    return `cannot create data directory ${dir}: ${explainCode(codeOf(e), messageOf(e))}`
  }
  const probe = join(dir, `.flotilla-write-check-${process.pid}`)
  try {
    writeFileSync(probe, "")
    rmSync(probe, { force: true })
  } catch (e) {
    return `cannot write in data directory ${dir}: ${explainCode(codeOf(e), messageOf(e))}`
  }
  return undefined
}
