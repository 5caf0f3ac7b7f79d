/**
 * Writing a backup file (BackupFormat.ts) as its sections arrive: each chunk goes straight to
 * disk, a section that restarts (its group's leader changed mid-stream) is cut back to its
 * start. The file is written as `<out>.partial` and renamed to `<out>` only once its trailer
 * is synced, so `<out>` is always a complete backup; a failed backup removes the partial file.
 */
import { type FileHandle, open, rename, unlink } from "node:fs/promises"
import { dirname } from "node:path"
import { Effect, Exit } from "effect"
import { syncDir } from "../../storage/internal/SnapshotFiles.js"
import {
  BackupError,
  encodeSectionHeader,
  encodeTrailer,
  MAGIC,
  type Manifest,
  type SectionHeader,
} from "./BackupFormat.js"

const fail = (path: string, e: unknown) =>
  new BackupError({ message: `cannot write ${path}: ${(e as Error).message}` })

/** A backup file being written (see the module comment). */
export class BackupWriter {
  private position = MAGIC.length
  private sectionStart = MAGIC.length

  constructor(
    readonly path: string,
    private readonly partial: string,
    private readonly handle: FileHandle,
  ) {}

  private io<A>(f: () => Promise<A>): Effect.Effect<A, BackupError> {
    return Effect.tryPromise({ try: f, catch: (e) => fail(this.path, e) })
  }

  private append(bytes: Uint8Array): Promise<void> {
    return (async () => {
      for (let at = 0; at < bytes.length; ) {
        const { bytesWritten } = await this.handle.write(bytes, at, bytes.length - at, this.position)
        if (bytesWritten <= 0) throw new Error("no progress writing (disk full?)")
        at += bytesWritten
        this.position += bytesWritten
      }
    })()
  }

  /** (Re)starts the current section with `header`: whatever it held so far is cut. */
  begin(header: SectionHeader): Effect.Effect<void, BackupError> {
    return this.io(async () => {
      await this.handle.truncate(this.sectionStart)
      this.position = this.sectionStart
      await this.append(encodeSectionHeader(header))
    })
  }

  /** Appends data to the current section. */
  write(chunk: Uint8Array): Effect.Effect<void, BackupError> {
    return this.io(() => this.append(chunk))
  }

  /** Closes the current section; answers its offset (the manifest's `offset`). */
  endSection(): number {
    const at = this.sectionStart
    this.sectionStart = this.position
    return at
  }

  /** Closes the file (a second close does nothing). */
  async close(): Promise<void> {
    await this.handle.close().catch(() => {})
  }

  /** Writes the trailer, syncs, and renames the partial file to its final name. */
  finish(manifest: Manifest): Effect.Effect<void, BackupError> {
    return this.io(async () => {
      await this.append(encodeTrailer(manifest))
      await this.handle.sync()
      await rename(this.partial, this.path)
      await syncDir(dirname(this.path))
    })
  }
}

/** A writer of `<path>.partial`; the handle closes with the scope, the partial file goes on failure. */
export const openWriter = (path: string) => {
  const partial = `${path}.partial`
  return Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const handle = await open(partial, "w")
        await handle.write(MAGIC, 0, MAGIC.length, 0)
        return new BackupWriter(path, partial, handle)
      },
      catch: (e) => fail(path, e),
    }),
    (w, exit) =>
      Effect.promise(async () => {
        await w.close()
        if (Exit.isFailure(exit)) await unlink(partial).catch(() => {})
      }),
  )
}
