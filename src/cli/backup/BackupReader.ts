/**
 * Reading a backup file (BackupFormat.ts) without holding it in memory: the manifest from the
 * trailer, then each section's header and data in chunks, checked against the manifest.
 */
import { createHash } from "node:crypto"
import { type FileHandle, open } from "node:fs/promises"
import { Effect, Either, Schema } from "effect"
import {
  BackupError,
  END_MAGIC,
  MAGIC,
  MAX_MANIFEST_BYTES,
  MAX_SECTION_HEADER_BYTES,
  Manifest,
  SectionHeader,
  type SectionRecord,
  sha256,
  TRAILER_BYTES,
} from "./BackupFormat.js"

/** Bytes read at once while streaming a section. */
const READ_CHUNK = 1024 * 1024

const fail = (message: string) => new BackupError({ message })

/** An open backup file. */
export interface BackupFile {
  readonly path: string
  readonly handle: FileHandle
  readonly size: number
  readonly manifest: Manifest
  /** Where the manifest starts: the end of the last section. */
  readonly manifestOffset: number
}

const readAt = async (handle: FileHandle, position: number, length: number): Promise<Buffer> => {
  const buf = Buffer.alloc(length)
  let at = 0
  while (at < length) {
    const { bytesRead } = await handle.read(buf, at, length - at, position + at)
    if (bytesRead === 0) break
    at += bytesRead
  }
  return at === length ? buf : buf.subarray(0, at)
}

const readManifest = async (path: string, handle: FileHandle): Promise<Either.Either<BackupFile, string>> => {
  const size = (await handle.stat()).size
  if (size < MAGIC.length + TRAILER_BYTES)
    return Either.left(`${path} is too short to be a backup (${size} bytes)`)
  if (!(await readAt(handle, 0, MAGIC.length)).equals(MAGIC))
    return Either.left(`${path} is not a Flotilla backup`)
  const tail = await readAt(handle, size - TRAILER_BYTES, TRAILER_BYTES)
  if (!tail.subarray(36).equals(END_MAGIC))
    return Either.left(`${path} has no trailer: the backup is incomplete or its end is damaged`)
  const length = tail.readUInt32BE(0)
  const manifestOffset = size - TRAILER_BYTES - length
  if (length > MAX_MANIFEST_BYTES || manifestOffset < MAGIC.length)
    return Either.left(`${path}: the manifest length is damaged (${length} bytes)`)
  const json = await readAt(handle, manifestOffset, length)
  if (!sha256(json).equals(tail.subarray(4, 36)))
    return Either.left(`${path}: the manifest: checksum mismatch`)
  const decoded = Schema.decodeUnknownEither(Schema.parseJson(Manifest))(json.toString("utf8"))
  if (Either.isLeft(decoded))
    return Either.left(`${path}: the manifest is not valid: ${decoded.left.message}`)
  return Either.right({ path, handle, size, manifest: decoded.right, manifestOffset })
}

/** Opens `path` and reads its manifest (checked); the file closes with the scope. */
export const openBackup = (path: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => open(path, "r"),
      catch: (e) => fail(`cannot open ${path}: ${(e as Error).message}`),
    }),
    (handle) => Effect.promise(() => handle.close()),
  ).pipe(
    Effect.flatMap((handle) =>
      Effect.tryPromise({
        try: () => readManifest(path, handle),
        catch: (e) => fail(`cannot read ${path}: ${(e as Error).message}`),
      }),
    ),
    Effect.flatMap(Either.match({ onLeft: (m) => Effect.fail(fail(m)), onRight: Effect.succeed })),
  )

/** Where a section's data starts, once its header is checked against `record`. */
const checkHeader = async (
  file: BackupFile,
  record: SectionRecord,
): Promise<Either.Either<number, string>> => {
  const lenBytes = await readAt(file.handle, record.offset, 4)
  if (lenBytes.length < 4) return Either.left("section header: truncated")
  const len = lenBytes.readUInt32BE(0)
  if (len > MAX_SECTION_HEADER_BYTES) return Either.left("section header: damaged length")
  const json = await readAt(file.handle, record.offset + 4, len)
  const h = Schema.decodeUnknownEither(Schema.parseJson(SectionHeader))(json.toString("utf8"))
  if (Either.isLeft(h)) return Either.left("section header: damaged")
  const { group, index, term, size } = h.right
  if (group !== record.group || index !== record.index || term !== record.term || size !== record.size)
    return Either.left("section header: does not match the manifest")
  const dataAt = record.offset + 4 + len
  if (dataAt + size > file.manifestOffset) return Either.left("section: runs past the end of the sections")
  return Either.right(dataAt)
}

/**
 * Streams a section's data to `onChunk` (each chunk is valid only during the call), checks its
 * header and sha256 against `record`; fails with `name: <what is wrong>`. Returns the offset
 * just past the section.
 */
export const readSection = (
  file: BackupFile,
  name: string,
  record: SectionRecord,
  onChunk: (chunk: Uint8Array) => Promise<void> | void,
): Effect.Effect<number, BackupError> =>
  Effect.tryPromise({
    try: async (): Promise<Either.Either<number, string>> => {
      const header = await checkHeader(file, record)
      if (Either.isLeft(header)) return header
      const hash = createHash("sha256")
      for (let at = 0; at < record.size; ) {
        const chunk = await readAt(file.handle, header.right + at, Math.min(READ_CHUNK, record.size - at))
        if (chunk.length === 0) return Either.left("section: truncated")
        hash.update(chunk)
        await onChunk(chunk)
        at += chunk.length
      }
      if (hash.digest("hex") !== record.sha256) return Either.left("checksum mismatch")
      return Either.right(header.right + record.size)
    },
    catch: (e) => fail(`${name}: cannot read ${file.path}: ${(e as Error).message}`),
  }).pipe(
    Effect.flatMap(
      Either.match({ onLeft: (why) => Effect.fail(fail(`${name}: ${why}`)), onRight: Effect.succeed }),
    ),
  )
