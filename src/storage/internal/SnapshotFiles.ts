/**
 * Snapshot data as files in `<dir>/snapshots`. Writing follows the only crash-safe recipe:
 * write to a temporary name, fsync the file, rename it to its final name, fsync the directory.
 * Only then may a record point to it; the old file is removed after that record is durable.
 *
 * A file is `header | data`. The header names what the file holds and carries the checksums:
 *
 * ```
 * magic "FLTSNAP1" | group u32 | index u64 | term u64 | size u64 | dataCrc u32 | headerCrc u32
 * ```
 *
 * Names are `g<group hex8>-i<index>-t<term>-<random hex>.snap`, unique per write so a retried
 * or repeated snapshot never overwrites a file a record still points to. At open, temporary
 * files and files no record points to (left by a crash between file and record) are removed.
 */
import { randomBytes } from "node:crypto"
import { type FileHandle, open, readdir, readFile, rename, unlink } from "node:fs/promises"
import { join } from "node:path"
import { crc32 } from "node:zlib"
import type { GroupId } from "../../raft/Ids.js"
import type { Snapshot } from "../../raft/Types.js"
import { CorruptedSnapshot } from "../StoreErrors.js"
import { readU64, type SnapshotRef, writeU64 } from "./Codec.js"
import { classifyIoError } from "./IoErrors.js"

const MAGIC = Buffer.from("FLTSNAP1", "latin1")
const HEADER_BYTES = 8 + 4 + 8 + 8 + 8 + 4 + 4
const TMP_SUFFIX = ".tmp"
const SUFFIX = ".snap"

/** Fsyncs a directory so that a rename or creation inside it is durable. */
export const syncDir = async (dir: string): Promise<void> => {
  const handle = await open(dir, "r")
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * Writes all of `bytes` at the file's current position. A write may be SHORT (a nearly full
 * disk takes what fits and reports no error): keep writing until everything is written or the
 * file system says why not.
 */
const writeAll = async (handle: FileHandle, bytes: Uint8Array): Promise<void> => {
  for (let at = 0; at < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, at, bytes.length - at)
    if (bytesWritten <= 0)
      throw Object.assign(new Error("no progress writing a snapshot file"), { code: "ENOSPC" })
    at += bytesWritten
  }
}

const header = (groupId: GroupId, s: Snapshot, crc: number): Buffer => {
  const h = Buffer.allocUnsafe(HEADER_BYTES)
  MAGIC.copy(h, 0)
  h.writeUInt32BE(groupId, 8)
  writeU64(h, 12, s.metadata.index)
  writeU64(h, 20, s.metadata.term)
  writeU64(h, 28, s.data.length)
  h.writeUInt32BE(crc, 36)
  h.writeUInt32BE(crc32(h.subarray(0, 40)), 40)
  return h
}

/** The snapshot area of one store. */
export class SnapshotFiles {
  constructor(
    /** The store's directory (for messages). */
    private readonly storeDir: string,
    /** `<storeDir>/snapshots`. */
    readonly dir: string,
  ) {}

  /** Writes `snapshot` for `groupId` durably under a fresh name; returns the record to store. */
  async write(groupId: GroupId, snapshot: Snapshot): Promise<SnapshotRef> {
    const m = snapshot.metadata
    const name = `g${groupId.toString(16).padStart(8, "0")}-i${m.index}-t${m.term}-${randomBytes(6).toString("hex")}${SUFFIX}`
    const final = join(this.dir, name)
    const tmp = final + TMP_SUFFIX
    const crc = crc32(snapshot.data)
    try {
      const handle = await open(tmp, "wx")
      try {
        await writeAll(handle, header(groupId, snapshot, crc))
        await writeAll(handle, snapshot.data)
        await handle.sync()
      } finally {
        await handle.close()
      }
      await rename(tmp, final)
      await syncDir(this.dir)
    } catch (e) {
      await unlink(tmp).catch(() => {})
      throw classifyIoError(this.storeDir, e, "write")
    }
    return { metadata: m, file: name, size: snapshot.data.length, crc }
  }

  /** Reads the data `ref` points to, checking the header; the caller checks size and checksum. */
  async read(groupId: GroupId, ref: SnapshotRef): Promise<Uint8Array> {
    const path = join(this.dir, ref.file)
    let bytes: Buffer
    try {
      bytes = await readFile(path)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === "ENOENT")
        throw new CorruptedSnapshot({ groupId, file: path, detail: "the file is missing" })
      throw classifyIoError(this.storeDir, e, "read")
    }
    const bad = (detail: string) => new CorruptedSnapshot({ groupId, file: path, detail })
    if (bytes.length < HEADER_BYTES || !bytes.subarray(0, 8).equals(MAGIC)) throw bad("not a snapshot file")
    if (bytes.readUInt32BE(40) !== crc32(bytes.subarray(0, 40))) throw bad("header checksum mismatch")
    if (
      bytes.readUInt32BE(8) !== groupId ||
      readU64(bytes, 12) !== ref.metadata.index ||
      readU64(bytes, 20) !== ref.metadata.term ||
      readU64(bytes, 28) !== ref.size ||
      bytes.readUInt32BE(36) !== ref.crc
    )
      throw bad("the header does not match the snapshot record")
    if (bytes.length !== HEADER_BYTES + ref.size)
      throw bad(`expected ${ref.size} data bytes, found ${bytes.length - HEADER_BYTES}`)
    return bytes.subarray(HEADER_BYTES)
  }

  /** Removes a file no durable record points to; a failure only leaves it for the next open. */
  async remove(file: string): Promise<void> {
    await unlink(join(this.dir, file)).catch(() => {})
  }

  /**
   * Removes temporary files and files not in `referenced`; returns the names that exist.
   * MUST run only while the store's lock is held.
   */
  async collect(referenced: ReadonlySet<string>): Promise<Set<string>> {
    const present = new Set<string>()
    let removed = false
    for (const name of await readdir(this.dir)) {
      if (name.endsWith(SUFFIX) && referenced.has(name)) {
        present.add(name)
        continue
      }
      if (name.endsWith(SUFFIX) || name.endsWith(TMP_SUFFIX)) {
        await unlink(join(this.dir, name)).catch(() => {})
        removed = true
      }
    }
    if (removed) await syncDir(this.dir)
    return present
  }
}
