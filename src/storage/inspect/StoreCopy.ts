/**
 * A private copy of a LevelDB directory, for reading a store without touching it: opening a
 * LevelDB writes (it replays its log into a new table, starts a new MANIFEST and log, rotates
 * its info log), so the inspector opens a copy instead.
 *
 * Table files (`*.ldb`, `*.sst`) are never changed once written, so they are hard-linked when
 * the copy is on the same file system (cheap for a large store) and copied otherwise; the
 * files LevelDB rewrites or appends to (`CURRENT`, `MANIFEST-*`, `*.log`) are always copied.
 * `LOCK` and the info logs are left out: the copy gets its own.
 */
import { copyFile, link, mkdir, readdir } from "node:fs/promises"
import { join } from "node:path"

const SKIPPED = new Set(["LOCK", "LOG", "LOG.old"])
const IMMUTABLE = /\.(ldb|sst)$/

/** Copies the LevelDB in `from` to the new directory `to`; returns the number of files. */
export const copyLevelDir = async (from: string, to: string): Promise<number> => {
  await mkdir(to, { recursive: true })
  let files = 0
  for (const entry of await readdir(from, { withFileTypes: true })) {
    if (!entry.isFile() || SKIPPED.has(entry.name)) continue
    const source = join(from, entry.name)
    const target = join(to, entry.name)
    if (IMMUTABLE.test(entry.name)) await link(source, target).catch(() => copyFile(source, target))
    else await copyFile(source, target)
    files++
  }
  return files
}
