/**
 * Small files replaced whole and durably (manifests, node identity, the group catalog): after a
 * crash the file holds the old content or the new one, never a mix.
 */
import { open, rename } from "node:fs/promises"
import { dirname } from "node:path"
import { syncDir } from "./internal/SnapshotFiles.js"

/** Writes `text` to `<path>.tmp`, fsyncs it, renames it over `path` and fsyncs the directory. */
export const writeFileAtomically = async (path: string, text: string): Promise<void> => {
  const tmp = `${path}.tmp`
  const handle = await open(tmp, "w")
  try {
    await handle.writeFile(text)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(tmp, path)
  await syncDir(dirname(path))
}
