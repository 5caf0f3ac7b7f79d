/**
 * Byte layout of the store: keys and checksummed records.
 *
 * Keys are raw big-endian binary so that LevelDB's bytewise order groups them:
 *
 * ```
 * hard state      u32 group | 0x01
 * snapshot record u32 group | 0x02
 * log floor       u32 group | 0x03
 * entry           u32 group | 0x04 | u64 index
 * ```
 *
 * All keys of one group form one contiguous range, and its entries one contiguous range in
 * index order inside it. Values start with a CRC-32 of the rest of the value followed by the
 * KEY, so a record that is damaged, or valid but stored under the wrong key, fails its check:
 *
 * ```
 * entry      crc u32 | term u64 | type u8 | data
 * hard state crc u32 | term u64 | vote u64 | commit u64
 * log floor  crc u32 | index u64 | term u64
 * snapshot   crc u32 | index u64 | term u64 | size u64 | dataCrc u32 | autoLeave u8
 *            | 4 × (count u32 | ids u64…) (voters, learners, votersOutgoing, learnersNext)
 *            | fileLength u16 | file (utf-8)
 * ```
 *
 * Numbers are JavaScript safe integers written as two big-endian u32 halves (no BigInt on the
 * hot path). Decoders return `undefined` for anything that fails its check; callers turn that
 * into a corruption error naming the group and the record.
 */
import { crc32 } from "node:zlib"
import type { GroupId } from "../../raft/Ids.js"
import type {
  ConfState,
  Entry,
  EntryType,
  HardState,
  Index,
  ReplicaId,
  SnapshotMetadata,
  Term,
} from "../../raft/Types.js"

/** Record kinds: the byte after the group id. */
export const Kind = { HardState: 1, Snapshot: 2, Floor: 3, Entry: 4 } as const

/** Length of a group record key (hard state, snapshot, floor). */
export const GROUP_KEY_BYTES = 5
/** Length of an entry key. */
export const ENTRY_KEY_BYTES = 13
/** Bytes of an entry value before its data. */
export const ENTRY_HEADER_BYTES = 13

const TWO_32 = 0x1_0000_0000
const MAX_HIGH = 0x1f_ffff // high half of Number.MAX_SAFE_INTEGER

/** Writes a safe non-negative integer as a big-endian u64. */
export const writeU64 = (buf: Buffer, offset: number, n: number): void => {
  buf.writeUInt32BE(Math.floor(n / TWO_32), offset)
  buf.writeUInt32BE(n >>> 0, offset + 4)
}

/** A `Buffer` view of bytes (no copy). */
export const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/** Reads a big-endian u64; `-1` when it does not fit a safe integer. */
export const readU64 = (buf: Uint8Array, offset: number): number => {
  const b = asBuffer(buf)
  const high = b.readUInt32BE(offset)
  if (high > MAX_HIGH) return -1
  return high * TWO_32 + b.readUInt32BE(offset + 4)
}

/** The key of a group record of `kind`. */
export const groupKey = (groupId: GroupId, kind: number): Buffer => {
  const key = Buffer.allocUnsafe(GROUP_KEY_BYTES)
  key.writeUInt32BE(groupId, 0)
  key[4] = kind
  return key
}

/** Writes the key of entry `index` of `groupId` into `into` (13 bytes at offset 0) and returns it. */
export const writeEntryKey = (into: Buffer, groupId: GroupId, index: Index): Buffer => {
  into.writeUInt32BE(groupId, 0)
  into[4] = Kind.Entry
  writeU64(into, 5, index)
  return into
}

/** The key of entry `index` of `groupId`, freshly allocated. */
export const entryKey = (groupId: GroupId, index: Index): Buffer =>
  writeEntryKey(Buffer.allocUnsafe(ENTRY_KEY_BYTES), groupId, index)

/** The group a key belongs to. */
export const groupOfKey = (key: Uint8Array): GroupId => asBuffer(key).readUInt32BE(0) as GroupId

/** The index in an entry key; `-1` when the key is not a well-formed entry key. */
export const indexOfEntryKey = (key: Uint8Array): Index =>
  key.length === ENTRY_KEY_BYTES && key[4] === Kind.Entry ? readU64(key, 5) : -1

/** Bytes an entry with this encoded value accounts for in size limits (as `entrySize` in src/raft). */
export const sizeOfEntryValue = (value: Uint8Array): number => value.length - ENTRY_HEADER_BYTES + 24

/** Bytes of the encoded value of `e`. */
export const entryValueBytes = (e: Entry): number => ENTRY_HEADER_BYTES + e.data.length

/** The checksum of a record: CRC-32 of the value after the checksum field, then the key. */
const checksum = (key: Uint8Array, value: Buffer, end: number): number =>
  crc32(key, crc32(value.subarray(4, end)))

/**
 * A reusable buffer for encoding values on the hot path, with cached views of it so that
 * encoding allocates nothing: `value(n)` is bytes `0 .. n`, `span(end)` is bytes `4 .. end` (what
 * the checksum covers). LevelDB copies what it is given, so one scratch serves a whole batch.
 */
export class Scratch {
  buf = Buffer.allocUnsafe(64 * 1024)
  private readonly values = new Map<number, Buffer>()
  private readonly spans = new Map<number, Buffer>()

  /** Makes room for `bytes` bytes (the cached views are dropped when the buffer grows). */
  ensure(bytes: number): Buffer {
    if (bytes > this.buf.length) {
      this.buf = Buffer.allocUnsafe(Math.max(bytes, this.buf.length * 2))
      this.values.clear()
      this.spans.clear()
    }
    return this.buf
  }

  /** Bytes `0 .. n` of the buffer. */
  value(n: number): Buffer {
    let v = this.values.get(n)
    if (v === undefined) this.values.set(n, (v = this.buf.subarray(0, n)))
    return v
  }

  /** Bytes `4 .. end` of the buffer. */
  span(end: number): Buffer {
    let v = this.spans.get(end)
    if (v === undefined) this.spans.set(end, (v = this.buf.subarray(4, end)))
    return v
  }
}

/**
 * Encodes `e`, stored under `key`, into `s` and returns a view of the value: valid until the
 * next use of `s`. The key is copied after the value so that one CRC call covers both.
 */
export const encodeEntryInto = (s: Scratch, key: Uint8Array, e: Entry): Buffer => {
  const n = ENTRY_HEADER_BYTES + e.data.length
  const out = s.ensure(n + key.length)
  writeU64(out, 4, e.term)
  out[12] = e.type
  out.set(e.data, ENTRY_HEADER_BYTES)
  out.set(key, n)
  out.writeUInt32BE(crc32(s.span(n + key.length)), 0)
  return s.value(n)
}

/** Encodes `e` into a fresh buffer. */
export const encodeEntry = (key: Uint8Array, e: Entry): Buffer => {
  const out = Buffer.allocUnsafe(entryValueBytes(e))
  writeU64(out, 4, e.term)
  out[12] = e.type
  out.set(e.data, ENTRY_HEADER_BYTES)
  out.writeUInt32BE(checksum(key, out, out.length), 0)
  return out
}

/** Decodes an entry value stored under `key` for `index`; `undefined` when it fails its checksum. */
export const decodeEntry = (key: Uint8Array, index: Index, value: Uint8Array): Entry | undefined => {
  if (value.length < ENTRY_HEADER_BYTES) return undefined
  const v = asBuffer(value)
  if (v.readUInt32BE(0) !== checksum(key, v, v.length)) return undefined
  const term = readU64(v, 4)
  const type = v[12]!
  if (term < 0) return undefined
  // Copy out of LevelDB's buffer so callers may keep the data without pinning a larger slab.
  const data = new Uint8Array(value.length - ENTRY_HEADER_BYTES)
  data.set(v.subarray(ENTRY_HEADER_BYTES))
  return { term, index, type: type as EntryType, data }
}

/** Reads only the term of an entry value, after checking its checksum. */
export const decodeEntryTerm = (key: Uint8Array, value: Uint8Array): Term | undefined => {
  if (value.length < ENTRY_HEADER_BYTES) return undefined
  const v = asBuffer(value)
  if (v.readUInt32BE(0) !== checksum(key, v, v.length)) return undefined
  const term = readU64(v, 4)
  return term < 0 ? undefined : term
}

const seal = (key: Uint8Array, out: Buffer): Buffer => {
  out.writeUInt32BE(checksum(key, out, out.length), 0)
  return out
}

const checked = (key: Uint8Array, value: Uint8Array, length: number): Buffer | undefined => {
  if (value.length !== length) return undefined
  const v = asBuffer(value)
  return v.readUInt32BE(0) === checksum(key, v, v.length) ? v : undefined
}

/** Bytes of a hard state record. */
export const HARD_STATE_BYTES = 28

/** Encodes a hard state record stored under `key` into `s`, as `encodeEntryInto`. */
export const encodeHardStateInto = (s: Scratch, key: Uint8Array, hs: HardState): Buffer => {
  const out = s.ensure(HARD_STATE_BYTES + key.length)
  writeU64(out, 4, hs.term)
  writeU64(out, 12, hs.vote)
  writeU64(out, 20, hs.commit)
  out.set(key, HARD_STATE_BYTES)
  out.writeUInt32BE(crc32(s.span(HARD_STATE_BYTES + key.length)), 0)
  return s.value(HARD_STATE_BYTES)
}

/** Encodes a hard state record stored under `key`. */
export const encodeHardState = (key: Uint8Array, hs: HardState): Buffer => {
  const out = Buffer.allocUnsafe(HARD_STATE_BYTES)
  writeU64(out, 4, hs.term)
  writeU64(out, 12, hs.vote)
  writeU64(out, 20, hs.commit)
  return seal(key, out)
}

/** Writes the key of a group record of `kind` into `into` (exactly 5 bytes) and returns it. */
export const writeGroupKey = (into: Buffer, groupId: GroupId, kind: number): Buffer => {
  into.writeUInt32BE(groupId, 0)
  into[4] = kind
  return into
}

/** Decodes a hard state record; `undefined` when it fails its checksum. */
export const decodeHardState = (key: Uint8Array, value: Uint8Array): HardState | undefined => {
  const v = checked(key, value, 28)
  if (v === undefined) return undefined
  const term = readU64(v, 4)
  const vote = readU64(v, 12)
  const commit = readU64(v, 20)
  if (term < 0 || vote < 0 || commit < 0) return undefined
  return { term, vote: vote as ReplicaId, commit }
}

/** The log floor: the index and term of the entry just before the first one held. */
export interface Floor {
  readonly index: Index
  readonly term: Term
}

/** Encodes a log floor record stored under `key`. */
export const encodeFloor = (key: Uint8Array, floor: Floor): Buffer => {
  const out = Buffer.allocUnsafe(20)
  writeU64(out, 4, floor.index)
  writeU64(out, 12, floor.term)
  return seal(key, out)
}

/** Decodes a log floor record; `undefined` when it fails its checksum. */
export const decodeFloor = (key: Uint8Array, value: Uint8Array): Floor | undefined => {
  const v = checked(key, value, 20)
  if (v === undefined) return undefined
  const index = readU64(v, 4)
  const term = readU64(v, 12)
  return index < 0 || term < 0 ? undefined : { index, term }
}

/**
 * Where a snapshot's data lives and how to check it: `file` names it in the back end's
 * snapshot area, `size` and `crc` (CRC-32 of the data) are checked on every read.
 */
export interface SnapshotRef {
  readonly metadata: SnapshotMetadata
  readonly file: string
  readonly size: number
  readonly crc: number
}

const idLists = (cs: ConfState): ReadonlyArray<readonly ReplicaId[]> => [
  cs.voters,
  cs.learners,
  cs.votersOutgoing,
  cs.learnersNext,
]

/** Encodes a snapshot record stored under `key`. */
export const encodeSnapshotRef = (key: Uint8Array, ref: SnapshotRef): Buffer => {
  const cs = ref.metadata.confState
  const file = Buffer.from(ref.file, "utf8")
  let ids = 0
  for (const list of idLists(cs)) ids += list.length
  const out = Buffer.allocUnsafe(4 + 8 + 8 + 8 + 4 + 1 + 16 + ids * 8 + 2 + file.length)
  let at = 4
  writeU64(out, at, ref.metadata.index)
  writeU64(out, (at += 8), ref.metadata.term)
  writeU64(out, (at += 8), ref.size)
  out.writeUInt32BE(ref.crc, (at += 8))
  out[(at += 4)] = cs.autoLeave ? 1 : 0
  at += 1
  for (const list of idLists(cs)) {
    out.writeUInt32BE(list.length, at)
    at += 4
    for (const id of list) {
      writeU64(out, at, id)
      at += 8
    }
  }
  out.writeUInt16BE(file.length, at)
  file.copy(out, at + 2)
  return seal(key, out)
}

/** Decodes a snapshot record; `undefined` when it fails its checksum or is malformed. */
export const decodeSnapshotRef = (key: Uint8Array, value: Uint8Array): SnapshotRef | undefined => {
  if (value.length < 4 + 8 + 8 + 8 + 4 + 1 + 16 + 2) return undefined
  const v = checked(key, value, value.length)
  if (v === undefined) return undefined
  const index = readU64(v, 4)
  const term = readU64(v, 12)
  const size = readU64(v, 20)
  const crc = v.readUInt32BE(28)
  const autoLeave = v[32] === 1
  let at = 33
  const lists: ReplicaId[][] = []
  for (let l = 0; l < 4; l++) {
    if (at + 4 > v.length) return undefined
    const count = v.readUInt32BE(at)
    at += 4
    if (at + count * 8 > v.length) return undefined
    const list: ReplicaId[] = []
    for (let k = 0; k < count; k++, at += 8) {
      const id = readU64(v, at)
      if (id < 0) return undefined
      list.push(id as ReplicaId)
    }
    lists.push(list)
  }
  if (at + 2 > v.length) return undefined
  const fileLength = v.readUInt16BE(at)
  if (at + 2 + fileLength !== v.length || index < 0 || term < 0 || size < 0) return undefined
  const file = v.toString("utf8", at + 2, at + 2 + fileLength)
  const confState: ConfState = {
    voters: lists[0]!,
    learners: lists[1]!,
    votersOutgoing: lists[2]!,
    learnersNext: lists[3]!,
    autoLeave,
  }
  return { metadata: { index, term, confState }, file, size, crc }
}

/** CRC-32 of a snapshot's data. */
export const dataCrc = (data: Uint8Array): number => crc32(data)
