/**
 * The snapshot format of a KV shard: clock, sessions, revision, compaction point, retained
 * revision times, every retained version of every key, and the leases.
 *
 *   "FLKV" (4 bytes) | format version u8 (1) | CBOR body | CRC-32 (IEEE) u32 BE of all before
 *
 *   body = [kind, clock, sessions, revision, compacted, [[rev, time], ...],
 *           [[key, rev, sub, value | null, create, version, lease], ...],
 *           lastLeaseId, [[id, ttlMs, slot, routeKey, deadline], ...]]
 *
 * Versions are in byte order of key, then oldest first; leases in id order: two shards in the
 * same state give BYTE-IDENTICAL snapshots. The size is bounded by the retention (docs/kv.md).
 * `decode` checks the frame and every field and throws `SnapshotCorrupt`; never a partial state.
 */
import * as Cbor from "../../src/runtime/entity/Cbor.js"
import { compare, invalidReason } from "../../src/runtime/entity/EntityId.js"
import type { SessionLimits } from "../../src/runtime/entity/Sessions.js"
import { SessionTable } from "../../src/runtime/entity/Sessions.js"
import { crc32, SnapshotCorrupt } from "../../src/runtime/entity/ShardSnapshot.js"
import { KIND } from "./Kv.js"
import { type Lease, LeaseTable } from "./Leases.js"
import { MvccStore, type Retention, type Version } from "./Mvcc.js"

const MAGIC = [0x46, 0x4c, 0x4b, 0x56] // "FLKV"
const VERSION = 1
const FRAME_BYTES = 4 + 1 + 4

/** The state a snapshot carries. */
export interface KvShardState {
  readonly clock: number
  readonly sessions: SessionTable
  readonly store: MvccStore
  readonly leases: LeaseTable
}

/** Encodes a shard's state. */
export const encode = (state: KvShardState): Uint8Array => {
  const versions: Cbor.CborValue[] = []
  for (const v of state.store.allVersions())
    versions.push([v.key, v.rev, v.sub, v.value, v.create, v.version, v.lease])
  const { lastId, leases } = state.leases.dump()
  const body = Cbor.encode([
    KIND,
    state.clock,
    state.sessions.toCbor(),
    state.store.revision,
    state.store.compacted,
    state.store.revisionTimes().map(([r, t]) => [r, t]),
    versions,
    lastId,
    leases.map((l) => [l.id, l.ttlMs, l.slot, l.routeKey, l.deadline]),
  ])
  const out = new Uint8Array(FRAME_BYTES + body.length)
  out.set(MAGIC, 0)
  out[4] = VERSION
  out.set(body, 5)
  new DataView(out.buffer).setUint32(5 + body.length, crc32(out.subarray(0, 5 + body.length)))
  return out
}

const isCount = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0

/** Decodes and validates a snapshot; throws `SnapshotCorrupt`. */
export const decode = (bytes: Uint8Array, limits: SessionLimits, retention: Retention): KvShardState => {
  const corrupt = (why: string): never => {
    throw new SnapshotCorrupt({ message: `corrupt kv shard snapshot: ${why}` })
  }
  if (bytes.length < FRAME_BYTES) corrupt(`${bytes.length} byte(s) is too short`)
  if (MAGIC.some((b, i) => bytes[i] !== b)) corrupt("bad magic (not a kv shard snapshot)")
  if (bytes[4] !== VERSION) corrupt(`format version ${bytes[4]} is not ${VERSION}`)
  const end = bytes.length - 4
  const stored = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(end)
  if (stored !== crc32(bytes.subarray(0, end))) corrupt("checksum mismatch")
  let body: Cbor.CborValue
  try {
    body = Cbor.decode(bytes.subarray(5, end))
  } catch (e) {
    return corrupt(`bad CBOR: ${e instanceof Error ? e.message : String(e)}`)
  }
  if (!Array.isArray(body) || body.length !== 9) return corrupt("the body is not a 9-element array")
  const [kind, clock, sessions, revision, compacted, times, versions, lastLease, leases] =
    body as ReadonlyArray<Cbor.CborValue>
  if (kind !== KIND) corrupt(`it belongs to kind ${JSON.stringify(kind)}`)
  if (!isCount(clock) || !isCount(revision) || !isCount(compacted) || !isCount(lastLease))
    return corrupt("a counter is not a non-negative integer")
  if (compacted > revision) corrupt("the compaction point is past the revision")
  let table: SessionTable
  try {
    table = SessionTable.fromCbor(sessions, limits)
  } catch (e) {
    return corrupt(e instanceof Error ? e.message : String(e))
  }
  if (!Array.isArray(times) || !Array.isArray(versions) || !Array.isArray(leases))
    return corrupt("times, versions or leases is not an array")
  const revTimes: Array<readonly [number, number]> = []
  for (const t of times as ReadonlyArray<Cbor.CborValue>) {
    if (!Array.isArray(t) || t.length !== 2 || !isCount(t[0]) || !isCount(t[1]))
      corrupt("a bad revision time")
    revTimes.push([(t as number[])[0]!, (t as number[])[1]!])
  }
  const decoded: Version[] = []
  let previous: Version | undefined
  for (const v of versions as ReadonlyArray<Cbor.CborValue>) {
    if (!Array.isArray(v) || v.length !== 7) return corrupt("a version is not a 7-element array")
    const [key, rev, sub, value, create, version, lease] = v as ReadonlyArray<Cbor.CborValue>
    if (!(key instanceof Uint8Array) || invalidReason(key) !== undefined) return corrupt("a bad key")
    if (!isCount(rev) || !isCount(sub) || !isCount(create) || !isCount(version) || !isCount(lease))
      return corrupt("a bad version number")
    if (value !== null && !(value instanceof Uint8Array)) return corrupt("a value is neither bytes nor null")
    if (rev > revision) corrupt("a version is past the revision")
    if (previous !== undefined) {
      const order = compare(previous.key, key)
      if (order > 0 || (order === 0 && (previous.rev > rev || (previous.rev === rev && previous.sub >= sub))))
        corrupt("versions are out of order")
    }
    previous = { key, rev, sub, value, create, version, lease }
    decoded.push(previous)
  }
  const leaseRows: Array<Omit<Lease, "keys">> = []
  for (const l of leases as ReadonlyArray<Cbor.CborValue>) {
    if (!Array.isArray(l) || l.length !== 5) return corrupt("a lease is not a 5-element array")
    const [id, ttlMs, slot, routeKey, deadline] = l as ReadonlyArray<Cbor.CborValue>
    if (
      !isCount(id) ||
      !isCount(ttlMs) ||
      !isCount(slot) ||
      !isCount(deadline) ||
      !(routeKey instanceof Uint8Array)
    )
      return corrupt("a bad lease")
    leaseRows.push({ id, ttlMs, slot, routeKey, deadline })
  }
  const store = MvccStore.restore(retention, revision, compacted, revTimes, decoded)
  const leaseTable = LeaseTable.restore(lastLease, leaseRows)
  for (const [key, v] of store.live.entries()) if (v.lease !== 0) leaseTable.reattach(key, 0, v.lease)
  return { clock, sessions: table, store, leases: leaseTable }
}
