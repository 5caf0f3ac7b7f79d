/**
 * `flotilla backup verify`: the whole structure and every checksum of a backup file, read in
 * chunks. Each problem names what it damages ("shard kv/3 (group 12): checksum mismatch").
 */
import { Effect } from "effect"
import { type BackupError, MAGIC, type Manifest, sectionsOf } from "./BackupFormat.js"
import { openBackup, readSection } from "./BackupReader.js"

/** What verification found. */
export interface VerifyReport {
  readonly manifest: Manifest
  /** Sections read and checked. */
  readonly sections: number
  /** Bytes of state checked. */
  readonly bytes: number
  /** One line per problem; empty when the backup is sound. */
  readonly problems: ReadonlyArray<string>
}

/**
 * Checks `path`. Fails (`BackupError`) when the manifest itself cannot be trusted; damage in
 * sections is listed in `problems`, every section being checked.
 */
export const verifyBackup = (path: string): Effect.Effect<VerifyReport, BackupError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const file = yield* openBackup(path)
      const sections = [...sectionsOf(file.manifest)].sort((a, b) => a.record.offset - b.record.offset)
      const problems: string[] = []
      const seen = new Set<number>()
      // Unknown after a damaged section: its end cannot be trusted.
      let expected: number | undefined = MAGIC.length
      let bytes = 0
      for (const s of sections) {
        if (seen.has(s.record.group)) problems.push(`${s.name}: listed twice in the manifest`)
        seen.add(s.record.group)
        if (expected !== undefined && s.record.offset !== expected)
          problems.push(`${s.name}: starts at byte ${s.record.offset}, expected ${expected}`)
        const end = yield* Effect.either(readSection(file, s.name, s.record, () => {}))
        if (end._tag === "Left") problems.push(end.left.message)
        else bytes += s.record.size
        expected = end._tag === "Right" ? end.right : undefined
      }
      if (expected !== undefined && expected !== file.manifestOffset)
        problems.push(`the file holds ${file.manifestOffset - expected} bytes after the last section`)
      return { manifest: file.manifest, sections: sections.length, bytes, problems }
    }),
  )
