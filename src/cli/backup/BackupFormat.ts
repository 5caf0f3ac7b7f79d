/**
 * The backup file (docs/operations.md, "Backup and restore", has the same description):
 *
 * ```
 * file    = "FLTBAK01" section* trailer
 * section = headerLen u32 BE | header JSON (SectionHeader) | data (header.size bytes)
 * trailer = manifest JSON | manifestLen u32 BE | sha256(manifest JSON) (32 bytes) | "FLTBKEND"
 * ```
 *
 * One section per group: the metadata group's state first, then every shard's
 * (`StateMachine.snapshot()` bytes). The manifest, written last so that the file streams out
 * without knowing the sections in advance, lists them all with their offsets and sha256.
 */
import { createHash } from "node:crypto"
import { Data, Schema } from "effect"

/** The first 8 bytes of a backup file. */
export const MAGIC = Buffer.from("FLTBAK01", "latin1")
/** The last 8 bytes of a backup file. */
export const END_MAGIC = Buffer.from("FLTBKEND", "latin1")
/** manifestLen + sha256 + END_MAGIC. */
export const TRAILER_BYTES = 4 + 32 + 8
/** A section header longer than this is damage, not a header. */
export const MAX_SECTION_HEADER_BYTES = 4096
/** A manifest longer than this is damage (64 MiB: millions of shards). */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024
/** The manifest's `format`. */
export const BACKUP_FORMAT = 1

const Count = Schema.Int.pipe(Schema.nonNegative())
const Sha256 = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/))

/** What precedes each section's data. */
export const SectionHeader = Schema.Struct({ group: Count, index: Count, term: Count, size: Count })
/** See `SectionHeader`. */
export interface SectionHeader extends Schema.Schema.Type<typeof SectionHeader> {}

/** One section as the manifest lists it. */
export const SectionRecord = Schema.Struct({
  ...SectionHeader.fields,
  sha256: Sha256,
  /** Byte offset of the section (its header length) in the file. */
  offset: Count,
})
/** See `SectionRecord`. */
export interface SectionRecord extends Schema.Schema.Type<typeof SectionRecord> {}

/** A shard: its position in the keyspace, hash slots `[start, end)` and section. */
export const ShardRecord = Schema.Struct({ shard: Count, start: Count, end: Count, ...SectionRecord.fields })
/** See `ShardRecord`. */
export interface ShardRecord extends Schema.Schema.Type<typeof ShardRecord> {}

/** A keyspace of the backup. */
export const KeyspaceRecord = Schema.Struct({
  name: Schema.String,
  kind: Schema.String,
  replicationFactor: Count,
  shards: Schema.Array(ShardRecord),
})
/** See `KeyspaceRecord`. */
export interface KeyspaceRecord extends Schema.Schema.Type<typeof KeyspaceRecord> {}

/** The manifest (the trailer's JSON). */
export const Manifest = Schema.Struct({
  format: Schema.Literal(BACKUP_FORMAT),
  cluster: Schema.String,
  /** ISO 8601, when the backup started and when its last section was read. */
  createdAt: Schema.String,
  finishedAt: Schema.String,
  /** The metadata group's state (group 0). */
  metadata: SectionRecord,
  keyspaces: Schema.Array(KeyspaceRecord),
})
/** See `Manifest`. */
export interface Manifest extends Schema.Schema.Type<typeof Manifest> {}

/** A backup could not be written, read or restored; the message says which part and why. */
export class BackupError extends Data.TaggedError("BackupError")<{ readonly message: string }> {}

/** How messages name a section: "shard kv/3 (group 12)" or "the metadata (group 0)". */
export const sectionName = (
  keyspace: string | undefined,
  shard: number | undefined,
  group: number,
): string =>
  keyspace === undefined ? `the metadata (group ${group})` : `shard ${keyspace}/${shard} (group ${group})`

/** Every section of a manifest with its name, the metadata first. */
export const sectionsOf = (
  m: Manifest,
): ReadonlyArray<{ readonly name: string; readonly record: SectionRecord; readonly keyspace?: string }> => [
  { name: sectionName(undefined, undefined, m.metadata.group), record: m.metadata },
  ...m.keyspaces.flatMap((ks) =>
    ks.shards.map((s) => ({ name: sectionName(ks.name, s.shard, s.group), record: s, keyspace: ks.name })),
  ),
]

/** The sha256 of `bytes`. */
export const sha256 = (bytes: Uint8Array): Buffer => createHash("sha256").update(bytes).digest()

/** The bytes that start a section: header length and header. */
export const encodeSectionHeader = (h: SectionHeader): Buffer => {
  const json = Buffer.from(JSON.stringify(Schema.encodeSync(SectionHeader)(h)), "utf8")
  const out = Buffer.allocUnsafe(4 + json.length)
  out.writeUInt32BE(json.length, 0)
  json.copy(out, 4)
  return out
}

/** The trailer bytes of `manifest`. */
export const encodeTrailer = (manifest: Manifest): Buffer => {
  const json = Buffer.from(JSON.stringify(Schema.encodeSync(Manifest)(manifest)), "utf8")
  const tail = Buffer.allocUnsafe(TRAILER_BYTES)
  tail.writeUInt32BE(json.length, 0)
  sha256(json).copy(tail, 4)
  END_MAGIC.copy(tail, 36)
  return Buffer.concat([json, tail])
}
