/**
 * The Raft frame codec: pure, no I/O. One frame carries every Raft message one node sends to
 * another in one engine round, as a list of `Envelope`s (group id + `Message`).
 *
 * The format is hand-coded over a `DataView` with varints — not a `Schema`, the one exception
 * to that rule for data crossing a process boundary, for speed and size (docs/decisions/0020
 * gives the measurements against msgpackr) — and is described byte by byte in
 * docs/transport.md:
 *
 * ```
 * "FL" | version 1 | cluster id u32 | from node u16 | to node u16 | record count u32 | records
 * ```
 *
 * A record is either a general message (tag = message type, a presence mask, then only the
 * fields that are not zero) or a compact heartbeat (tag 0x80..0x8F) of a few bytes, so the
 * heartbeats of N groups between two nodes cost a few bytes each. Records keep the order of
 * the envelopes: `decodeFrame(encodeFrame(h, e))` yields exactly `e`.
 *
 * CONTRACTS:
 * - `decodeFrame` NEVER throws and never returns part of a frame: it is a typed `FrameError`
 *   (malformed, truncated, oversized or foreign) or the whole frame.
 * - `encodeFrame` THROWS a RangeError on input that is a bug (a local message type, a message
 *   whose `to` is not on the frame's destination node or whose `from` is not on its source
 *   node, an integer that is not a non-negative safe integer). `encodeFrames` (what the
 *   transport uses) throws on the same bugs, except numbers: a message holding a number it
 *   cannot encode is left out of every frame and returned in `invalid`, so no value that came
 *   in from the network can make a send throw (issue 11, finding 1).
 * - Decoded terms are at most `MAX_TERM` and indexes, commits and snapshot sizes at most
 *   `MAX_INDEX` (Types.ts), so whatever the core derives from them stays encodable.
 * - Byte fields of decoded messages are copies: a decoded message never pins the frame buffer.
 */
import { Either } from "effect"
import { type GroupId, isGroupId, isNodeId, MAX_GROUP_ID, type NodeId } from "../raft/Ids.js"
import {
  type ConfState,
  type Entry,
  type EntryType,
  isLocalMessage,
  isReplicaId,
  MAX_INDEX,
  MAX_TERM,
  type Message,
  MessageType,
  NO_ENTRIES,
  type ReplicaId,
  type SnapshotChunk,
} from "../raft/Types.js"
import { ByteReader, ByteWriter, DecodeFailure, UnencodableNumber } from "./internal/ByteBuffer.js"

/** One Raft message addressed to one group. */
export interface Envelope {
  readonly groupId: GroupId
  readonly message: Message
}

/** Who a frame is from and to, and the cluster it belongs to. */
export interface FrameHeader {
  /** `clusterIdOf(clusterName)`: frames of another cluster are refused as foreign. */
  readonly clusterId: number
  readonly from: NodeId
  readonly to: NodeId
}

/** A decoded frame. */
export interface Frame extends FrameHeader {
  readonly envelopes: ReadonlyArray<Envelope>
}

/** Why a frame was refused. */
export type FrameErrorReason = "malformed" | "truncated" | "oversized" | "foreign"

/** A refused frame: the reason, a human-readable detail and the byte offset where it was found. */
export interface FrameError {
  readonly _tag: "FrameError"
  readonly reason: FrameErrorReason
  readonly detail: string
  readonly offset: number
}

/** Frame magic: ASCII "FL". */
export const FRAME_MAGIC_0 = 0x46
/** Second magic byte. */
export const FRAME_MAGIC_1 = 0x4c
/** The only version this codec writes and reads. */
export const FRAME_VERSION = 1
/** Bytes before the first record: magic 2, version 1, cluster 4, from 2, to 2, count 4. */
export const FRAME_HEADER_BYTES = 15

/** Tag bits of a compact heartbeat record (0x80 | flags). */
export const HB_TAG = 0x80
/** Compact heartbeat flag: the message is a MsgHeartbeatResp. */
export const HB_RESP = 0x01
/** Compact heartbeat flag: a context follows. */
export const HB_CONTEXT = 0x02
/** Compact heartbeat flag: the term equals the previous compact heartbeat's (first: 0). */
export const HB_SAME_TERM = 0x04
/** Compact heartbeat flag: replica generations follow (otherwise both are 0). */
export const HB_GENERATIONS = 0x08

/** Presence bits of a general record's mask, in the order the fields follow. */
export const Field = {
  ToGeneration: 1 << 0,
  FromGeneration: 1 << 1,
  Term: 1 << 2,
  LogTerm: 1 << 3,
  Index: 1 << 4,
  Commit: 1 << 5,
  Reject: 1 << 6,
  RejectHint: 1 << 7,
  HintTerm: 1 << 8,
  Entries: 1 << 9,
  Snapshot: 1 << 10,
  Context: 1 << 11,
} as const
const KNOWN_FIELDS = (1 << 12) - 1

/** Entry flag bits: bits 0-1 hold the entry type. */
export const ENTRY_INDEX = 0x04
/** Entry flag: the term follows (otherwise the previous entry's term; first: the message's). */
export const ENTRY_TERM = 0x08

const NODE_SPAN = 0x10000
const MAX_MESSAGE_TYPE = MessageType.SnapResp

/** The 32-bit FNV-1a hash of the cluster name's UTF-8 bytes: the cluster id in every frame. */
export const clusterIdOf = (cluster: string): number => {
  let h = 0x811c9dc5
  for (const b of new TextEncoder().encode(cluster)) {
    h ^= b
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h >>> 0
}

/** True for a message type that may travel between nodes. */
export const isRemoteMessageType = (t: number): t is MessageType =>
  Number.isInteger(t) && t >= 0 && t <= MAX_MESSAGE_TYPE && !isLocalMessage(t as MessageType)

// ---------------------------------------------------------------------------------------------
// Encoding

const generationOn = (replica: ReplicaId, node: NodeId, role: string): number => {
  if (!isReplicaId(replica)) throw new RangeError(`message ${role} ${replica} is not a replica id`)
  if (replica % NODE_SPAN !== node)
    throw new RangeError(`message ${role} ${replica} is not on node ${node} (the frame's ${role} node)`)
  return Math.floor(replica / NODE_SPAN)
}

const isCompactHeartbeat = (m: Message): boolean =>
  (m.type === MessageType.Heartbeat || m.type === MessageType.HeartbeatResp) &&
  m.logTerm === 0 &&
  m.index === 0 &&
  m.entries.length === 0 &&
  !m.reject &&
  m.rejectHint === 0 &&
  m.hintTerm === 0 &&
  m.snapshot === undefined

const writeReplicaIds = (w: ByteWriter, ids: readonly ReplicaId[]): void => {
  w.varint(ids.length)
  for (const id of ids) {
    if (!isReplicaId(id)) throw new RangeError(`configuration holds ${id}, not a replica id`)
    w.varint(id)
  }
}

const writeSnapshot = (w: ByteWriter, s: SnapshotChunk): void => {
  const md = s.metadata
  w.varint(md.index)
  w.varint(md.term)
  writeReplicaIds(w, md.confState.voters)
  writeReplicaIds(w, md.confState.learners)
  writeReplicaIds(w, md.confState.votersOutgoing)
  writeReplicaIds(w, md.confState.learnersNext)
  w.u8(md.confState.autoLeave ? 1 : 0)
  w.varint(s.offset)
  w.varint(s.totalBytes)
  w.bytes(s.data)
}

const writeEntries = (w: ByteWriter, m: Message): void => {
  w.varint(m.entries.length)
  let expectedIndex = m.index + 1
  let previousTerm = m.term
  for (const e of m.entries) {
    if (e.type !== 0 && e.type !== 1) throw new RangeError(`entry type ${e.type} is not an EntryType`)
    if (!Number.isSafeInteger(e.index) || e.index < 0) throw new UnencodableNumber(`entry index ${e.index}`)
    let flags: number = e.type
    if (e.index !== expectedIndex) flags |= ENTRY_INDEX
    if (e.term !== previousTerm) flags |= ENTRY_TERM
    w.u8(flags)
    if (flags & ENTRY_INDEX) w.varint(e.index)
    if (flags & ENTRY_TERM) w.varint(e.term)
    w.bytes(e.data)
    expectedIndex = e.index + 1
    previousTerm = e.term
  }
}

/**
 * Encoder state that spans records of one frame. The splitter saves and restores it when it
 * rolls a record back.
 */
interface EncodeState {
  lastHeartbeatTerm: number
}

const writeRecord = (w: ByteWriter, st: EncodeState, header: FrameHeader, env: Envelope): void => {
  const m = env.message
  if (!isRemoteMessageType(m.type)) throw new RangeError(`message type ${m.type} never leaves a node`)
  if (!isGroupId(env.groupId)) throw new RangeError(`group id ${env.groupId} is out of range`)
  const toGen = generationOn(m.to, header.to, "to")
  const fromGen = generationOn(m.from, header.from, "from")
  if (isCompactHeartbeat(m)) {
    let tag = HB_TAG
    if (m.type === MessageType.HeartbeatResp) tag |= HB_RESP
    if (m.context !== undefined) tag |= HB_CONTEXT
    if (m.term === st.lastHeartbeatTerm) tag |= HB_SAME_TERM
    if (toGen !== 0 || fromGen !== 0) tag |= HB_GENERATIONS
    w.u8(tag)
    w.varint(env.groupId)
    if (tag & HB_GENERATIONS) {
      w.varint(toGen)
      w.varint(fromGen)
    }
    if (!(tag & HB_SAME_TERM)) w.varint(m.term)
    w.varint(m.commit)
    if (m.context !== undefined) w.bytes(m.context)
    st.lastHeartbeatTerm = m.term
    return
  }
  let mask = 0
  if (toGen !== 0) mask |= Field.ToGeneration
  if (fromGen !== 0) mask |= Field.FromGeneration
  if (m.term !== 0) mask |= Field.Term
  if (m.logTerm !== 0) mask |= Field.LogTerm
  if (m.index !== 0) mask |= Field.Index
  if (m.commit !== 0) mask |= Field.Commit
  if (m.reject) mask |= Field.Reject
  if (m.rejectHint !== 0) mask |= Field.RejectHint
  if (m.hintTerm !== 0) mask |= Field.HintTerm
  if (m.entries.length > 0) mask |= Field.Entries
  if (m.snapshot !== undefined) mask |= Field.Snapshot
  if (m.context !== undefined) mask |= Field.Context
  w.u8(m.type)
  w.varint(env.groupId)
  w.varint(mask)
  if (mask & Field.ToGeneration) w.varint(toGen)
  if (mask & Field.FromGeneration) w.varint(fromGen)
  if (mask & Field.Term) w.varint(m.term)
  if (mask & Field.LogTerm) w.varint(m.logTerm)
  if (mask & Field.Index) w.varint(m.index)
  if (mask & Field.Commit) w.varint(m.commit)
  if (mask & Field.RejectHint) w.varint(m.rejectHint)
  if (mask & Field.HintTerm) w.varint(m.hintTerm)
  if (mask & Field.Entries) writeEntries(w, m)
  if (mask & Field.Snapshot) writeSnapshot(w, m.snapshot!)
  if (mask & Field.Context) w.bytes(m.context!)
}

const writeHeader = (w: ByteWriter, header: FrameHeader): void => {
  if (!isNodeId(header.from) || !isNodeId(header.to))
    throw new RangeError(`frame nodes must be node ids, got ${header.from} -> ${header.to}`)
  if (!(Number.isInteger(header.clusterId) && header.clusterId >= 0 && header.clusterId <= 0xffffffff))
    throw new RangeError(`cluster id must be a 32-bit unsigned integer, got ${header.clusterId}`)
  w.u8(FRAME_MAGIC_0)
  w.u8(FRAME_MAGIC_1)
  w.u8(FRAME_VERSION)
  w.u32(header.clusterId)
  w.u16(header.from)
  w.u16(header.to)
  w.u32(0) // record count, patched when the frame is closed
}

/**
 * One writer reused by every encode (encoding is synchronous, so never shared by two at once):
 * a frame costs one allocation, its final copy. It keeps at most 4 MiB between encodes.
 */
const scratch = new ByteWriter(64 * 1024)
const SCRATCH_KEEP = 4 * 1024 * 1024

/** Encodes every envelope into one frame, whatever its size. THROWS on a bug (see CONTRACTS). */
export const encodeFrame = (header: FrameHeader, envelopes: ReadonlyArray<Envelope>): Uint8Array => {
  const w = scratch
  w.reset(SCRATCH_KEEP)
  writeHeader(w, header)
  const st: EncodeState = { lastHeartbeatTerm: 0 }
  for (const env of envelopes) writeRecord(w, st, header, env)
  w.patchU32(11, envelopes.length)
  return w.toBytes()
}

/** The frames of one `encodeFrames` call and the envelopes that fit in no frame. */
export interface SplitFrames {
  readonly frames: ReadonlyArray<Uint8Array>
  /** How many envelopes each frame holds. */
  readonly counts: ReadonlyArray<number>
  /** Envelopes whose record alone exceeds `maxFrameBytes`: they cannot be sent. */
  readonly oversized: ReadonlyArray<Envelope>
  /** Envelopes that cannot be encoded at all (a value out of range), with the reason. */
  readonly invalid: ReadonlyArray<{ readonly envelope: Envelope; readonly reason: string }>
}

/**
 * Appends one record, or rolls the writer back and returns why the envelope cannot be encoded
 * (a number out of range). Any other RangeError is a caller's bug and propagates.
 */
const tryWriteRecord = (
  w: ByteWriter,
  st: EncodeState,
  header: FrameHeader,
  env: Envelope,
): string | undefined => {
  const mark = w.length
  const saved = st.lastHeartbeatTerm
  try {
    writeRecord(w, st, header, env)
    return undefined
  } catch (e) {
    if (!(e instanceof UnencodableNumber)) throw e
    w.truncate(mark)
    st.lastHeartbeatTerm = saved
    return e.message
  }
}

/**
 * Encodes envelopes, in order, into as FEW frames as fit in `maxFrameBytes` each: one frame
 * unless the limit forces a split. THROWS on a bug (see CONTRACTS).
 */
export const encodeFrames = (
  header: FrameHeader,
  envelopes: ReadonlyArray<Envelope>,
  maxFrameBytes: number,
): SplitFrames => {
  if (!(maxFrameBytes > FRAME_HEADER_BYTES))
    throw new RangeError(`maxFrameBytes must exceed the ${FRAME_HEADER_BYTES}-byte header`)
  const frames: Uint8Array[] = []
  const counts: number[] = []
  const oversized: Envelope[] = []
  const invalid: Array<{ envelope: Envelope; reason: string }> = []
  const w = scratch
  w.reset(SCRATCH_KEEP)
  const st: EncodeState = { lastHeartbeatTerm: 0 }
  let records = 0
  const open = () => {
    w.truncate(0)
    writeHeader(w, header)
    st.lastHeartbeatTerm = 0
    records = 0
  }
  const close = () => {
    w.patchU32(11, records)
    frames.push(w.toBytes())
    counts.push(records)
  }
  open()
  for (const env of envelopes) {
    const mark = w.length
    const saved = st.lastHeartbeatTerm
    const bad = tryWriteRecord(w, st, header, env)
    if (bad !== undefined) {
      invalid.push({ envelope: env, reason: bad })
      continue
    }
    if (w.length <= maxFrameBytes) {
      records++
      continue
    }
    w.truncate(mark)
    st.lastHeartbeatTerm = saved
    if (records > 0) {
      close()
      open()
      writeRecord(w, st, header, env)
      if (w.length <= maxFrameBytes) {
        records++
        continue
      }
      w.truncate(FRAME_HEADER_BYTES)
      st.lastHeartbeatTerm = 0
    }
    oversized.push(env)
  }
  if (records > 0) close()
  return { frames, counts, oversized, invalid }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** What the receiver expects; a frame that differs is refused as foreign. */
export interface FrameExpectation {
  readonly clusterId: number
  readonly to: NodeId
}

const readReplica = (r: ByteReader, gen: number, node: NodeId, what: string): ReplicaId => {
  const id = gen * NODE_SPAN + node
  if (!Number.isSafeInteger(id)) r.fail("malformed", `${what}: generation ${gen} out of range`)
  return id as ReplicaId
}

const readReplicaIds = (r: ByteReader, what: string): ReplicaId[] => {
  const n = r.count(1, `${what} count`)
  const ids: ReplicaId[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const id = r.varint(what)
    if (!isReplicaId(id)) r.fail("malformed", `${what}: replica id ${id}`)
    ids[i] = id as ReplicaId
  }
  return ids
}

const readSnapshot = (r: ByteReader): SnapshotChunk => {
  const index = r.varintAtMost(MAX_INDEX, "snapshot index")
  const term = r.varintAtMost(MAX_TERM, "snapshot term")
  const voters = readReplicaIds(r, "voters")
  const learners = readReplicaIds(r, "learners")
  const votersOutgoing = readReplicaIds(r, "outgoing voters")
  const learnersNext = readReplicaIds(r, "next learners")
  const autoLeave = r.u8("autoLeave")
  if (autoLeave > 1) r.fail("malformed", `autoLeave byte ${autoLeave}`)
  const confState: ConfState = { voters, learners, votersOutgoing, learnersNext, autoLeave: autoLeave === 1 }
  const offset = r.varintAtMost(MAX_INDEX, "chunk offset")
  const totalBytes = r.varintAtMost(MAX_INDEX, "snapshot size")
  const data = r.bytes("chunk data")
  if (offset + data.length > totalBytes)
    r.fail("malformed", `chunk ${offset}+${data.length} overruns snapshot size ${totalBytes}`)
  return { metadata: { index, term, confState }, offset, totalBytes, data }
}

const readEntries = (r: ByteReader, messageIndex: number, messageTerm: number): Entry[] => {
  const n = r.count(2, "entry count")
  if (n === 0) r.fail("malformed", "empty entry list")
  const entries: Entry[] = new Array(n)
  let expectedIndex = messageIndex + 1
  let previousTerm = messageTerm
  for (let i = 0; i < n; i++) {
    const flags = r.u8("entry flags")
    if (flags & 0xf0 || (flags & 0x03) > 1) r.fail("malformed", `entry flags 0x${flags.toString(16)}`)
    const index = flags & ENTRY_INDEX ? r.varintAtMost(MAX_INDEX, "entry index") : expectedIndex
    if (index > MAX_INDEX) r.fail("malformed", "entry index out of range")
    const term = flags & ENTRY_TERM ? r.varintAtMost(MAX_TERM, "entry term") : previousTerm
    const data = r.bytes("entry data")
    entries[i] = { term, index, type: (flags & 0x03) as EntryType, data }
    expectedIndex = index + 1
    previousTerm = term
  }
  return entries
}

const readRecord = (r: ByteReader, st: EncodeState, from: NodeId, to: NodeId): Envelope => {
  const tag = r.u8("record tag")
  if (tag >= HB_TAG) {
    if (tag > (HB_TAG | 0x0f)) r.fail("malformed", `unknown record tag 0x${tag.toString(16)}`)
    const groupId = r.varintAtMost(MAX_GROUP_ID, "group id") as GroupId
    const toGen = tag & HB_GENERATIONS ? r.varint("to generation") : 0
    const fromGen = tag & HB_GENERATIONS ? r.varint("from generation") : 0
    const term = tag & HB_SAME_TERM ? st.lastHeartbeatTerm : r.varintAtMost(MAX_TERM, "term")
    const commit = r.varintAtMost(MAX_INDEX, "commit")
    const context = tag & HB_CONTEXT ? r.bytes("context") : undefined
    st.lastHeartbeatTerm = term
    const message: Message = {
      type: tag & HB_RESP ? MessageType.HeartbeatResp : MessageType.Heartbeat,
      to: readReplica(r, toGen, to, "to"),
      from: readReplica(r, fromGen, from, "from"),
      term,
      logTerm: 0,
      index: 0,
      entries: NO_ENTRIES,
      commit,
      reject: false,
      rejectHint: 0,
      hintTerm: 0,
      snapshot: undefined,
      context,
    }
    return { groupId, message }
  }
  if (!isRemoteMessageType(tag)) r.fail("malformed", `message type ${tag} may not travel`)
  const groupId = r.varintAtMost(MAX_GROUP_ID, "group id") as GroupId
  const mask = r.varint("field mask")
  if (mask & ~KNOWN_FIELDS) r.fail("malformed", `unknown field bits 0x${mask.toString(16)}`)
  const toGen = mask & Field.ToGeneration ? r.varint("to generation") : 0
  const fromGen = mask & Field.FromGeneration ? r.varint("from generation") : 0
  const term = mask & Field.Term ? r.varintAtMost(MAX_TERM, "term") : 0
  const logTerm = mask & Field.LogTerm ? r.varintAtMost(MAX_TERM, "logTerm") : 0
  const index = mask & Field.Index ? r.varintAtMost(MAX_INDEX, "index") : 0
  const commit = mask & Field.Commit ? r.varintAtMost(MAX_INDEX, "commit") : 0
  const rejectHint = mask & Field.RejectHint ? r.varintAtMost(MAX_INDEX, "rejectHint") : 0
  const hintTerm = mask & Field.HintTerm ? r.varintAtMost(MAX_TERM, "hintTerm") : 0
  const entries = mask & Field.Entries ? readEntries(r, index, term) : NO_ENTRIES
  const snapshot = mask & Field.Snapshot ? readSnapshot(r) : undefined
  const context = mask & Field.Context ? r.bytes("context") : undefined
  const message: Message = {
    type: tag,
    to: readReplica(r, toGen, to, "to"),
    from: readReplica(r, fromGen, from, "from"),
    term,
    logTerm,
    index,
    entries,
    commit,
    reject: (mask & Field.Reject) !== 0,
    rejectHint,
    hintTerm,
    snapshot,
    context,
  }
  return { groupId, message }
}

const frameError = (reason: FrameErrorReason, detail: string, offset: number): FrameError => ({
  _tag: "FrameError",
  reason,
  detail,
  offset,
})

/**
 * Decodes one frame. NEVER throws: the result is the whole frame or a `FrameError`.
 * A frame longer than `maxFrameBytes` is refused as oversized before it is read; with
 * `expect`, a frame of another cluster or for another node is refused as foreign.
 */
export const decodeFrame = (
  bytes: Uint8Array,
  expect?: FrameExpectation,
  maxFrameBytes = Number.POSITIVE_INFINITY,
): Either.Either<Frame, FrameError> => {
  if (bytes.length > maxFrameBytes)
    return Either.left(frameError("oversized", `${bytes.length} bytes exceed ${maxFrameBytes}`, 0))
  const r = new ByteReader(bytes)
  try {
    if (r.u8("magic") !== FRAME_MAGIC_0 || r.u8("magic") !== FRAME_MAGIC_1)
      return Either.left(frameError("malformed", "bad magic: not a Flotilla frame", 0))
    const version = r.u8("version")
    if (version !== FRAME_VERSION)
      return Either.left(frameError("malformed", `unsupported frame version ${version}`, 2))
    const clusterId = r.u32("cluster id")
    const from = r.u16("from node")
    const to = r.u16("to node")
    if (!isNodeId(from) || !isNodeId(to))
      return Either.left(frameError("malformed", `node 0 in header (${from} -> ${to})`, 7))
    if (expect !== undefined && clusterId !== expect.clusterId)
      return Either.left(
        frameError(
          "foreign",
          `cluster id 0x${clusterId.toString(16)}, expected 0x${expect.clusterId.toString(16)}`,
          3,
        ),
      )
    if (expect !== undefined && to !== expect.to)
      return Either.left(frameError("foreign", `frame for node ${to} reached node ${expect.to}`, 9))
    const count = r.u32("record count")
    if (count * 3 > r.remaining)
      return Either.left(
        frameError("truncated", `${count} record(s) cannot fit in ${r.remaining} byte(s)`, 11),
      )
    const st: EncodeState = { lastHeartbeatTerm: 0 }
    const envelopes: Envelope[] = new Array(count)
    for (let i = 0; i < count; i++) envelopes[i] = readRecord(r, st, from, to)
    if (r.remaining > 0)
      return Either.left(frameError("malformed", `${r.remaining} byte(s) after the last record`, r.offset))
    return Either.right({ clusterId, from, to, envelopes })
  } catch (e) {
    if (e instanceof DecodeFailure) return Either.left(frameError(e.reason, e.detail, e.offset))
    return Either.left(frameError("malformed", `decoder defect: ${String(e)}`, r.offset))
  }
}
