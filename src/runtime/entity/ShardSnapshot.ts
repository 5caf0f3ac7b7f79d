/**
 * The snapshot format of an entity shard: the whole state (entities, sessions, clock) as
 * versioned, checksummed bytes.
 *
 *   "FLES" (4 bytes) | format version u8 (1) | CBOR body | CRC-32 (IEEE) u32 BE of all before
 *
 *   body = [kind name, clock, sessions (see `SessionTable.toCbor`), [[id, state], ...]]
 *
 * Entities appear in ascending byte order of id, states Schema-encoded, so two shards in the
 * same state produce BYTE-IDENTICAL snapshots. `decode` checks everything (magic, version,
 * checksum, CBOR, shape, kind, id order and validity, every state against the state schema)
 * and throws `SnapshotCorrupt` naming the first defect; it never returns a partial state.
 */
import { crc32 as zlibCrc32 } from "node:zlib"
import { Data, Either } from "effect"
import * as Cbor from "./Cbor.js"
import { compare, equals, invalidReason } from "./EntityId.js"
import type { AnyProtocol } from "./EntityKind.js"
import { OrderedMap } from "./OrderedMap.js"
import { type SessionLimits, SessionTable } from "./Sessions.js"

/** The snapshot bytes are not a valid snapshot of this shard. */
export class SnapshotCorrupt extends Data.TaggedError("SnapshotCorrupt")<{ readonly message: string }> {}

/** Snapshot format version. */
export const SNAPSHOT_VERSION = 1
const MAGIC = [0x46, 0x4c, 0x45, 0x53] // "FLES"
const FRAME_BYTES = 4 + 1 + 4

/** CRC-32 (IEEE 802.3) of `bytes`: zlib's, as the LogStore's checksums. */
export const crc32 = (bytes: Uint8Array): number => zlibCrc32(bytes)

/** The state of a shard. */
export interface ShardState<S> {
  readonly clock: number
  readonly sessions: SessionTable
  readonly entities: OrderedMap<S>
}

/** Encodes a shard's state; `encodeState` gives the CBOR bytes of a stored state. */
export const encode = <S>(
  kindName: string,
  state: ShardState<S>,
  encodeState: (state: S) => Uint8Array,
): Uint8Array => {
  const entities: Cbor.CborValue[] = []
  for (const [id, s] of state.entities.entries()) entities.push([id, new Cbor.Raw(encodeState(s))])
  const body = Cbor.encode([kindName, state.clock, state.sessions.toCbor(), entities])
  const out = new Uint8Array(FRAME_BYTES + body.length)
  out.set(MAGIC, 0)
  out[4] = SNAPSHOT_VERSION
  out.set(body, 5)
  new DataView(out.buffer).setUint32(5 + body.length, crc32(out.subarray(0, 5 + body.length)))
  return out
}

/** Decodes and validates a snapshot of a shard of `protocol`; throws `SnapshotCorrupt`. */
export const decode = (
  protocol: AnyProtocol,
  limits: SessionLimits,
  bytes: Uint8Array,
): ShardState<unknown> => {
  const corrupt = (why: string): never => {
    throw new SnapshotCorrupt({ message: `corrupt ${protocol.name} shard snapshot: ${why}` })
  }
  if (bytes.length < FRAME_BYTES) corrupt(`${bytes.length} byte(s) is too short`)
  if (MAGIC.some((b, i) => bytes[i] !== b)) corrupt("bad magic (not a shard snapshot)")
  if (bytes[4] !== SNAPSHOT_VERSION) corrupt(`format version ${bytes[4]} is not ${SNAPSHOT_VERSION}`)
  const end = bytes.length - 4
  const stored = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(end)
  const actual = crc32(bytes.subarray(0, end))
  if (stored !== actual)
    corrupt(`checksum mismatch (stored ${stored.toString(16)}, computed ${actual.toString(16)})`)
  let body: Cbor.CborValue
  try {
    body = Cbor.decode(bytes.subarray(5, end))
  } catch (e) {
    return corrupt(`bad CBOR: ${e instanceof Error ? e.message : String(e)}`)
  }
  if (!Array.isArray(body) || body.length !== 4) return corrupt("the body is not a 4-element array")
  const [kind, clock, sessions, entities] = body as ReadonlyArray<Cbor.CborValue>
  if (kind !== protocol.name) corrupt(`it belongs to kind ${JSON.stringify(kind)}`)
  if (typeof clock !== "number" || !Number.isSafeInteger(clock) || clock < 0) corrupt("bad clock")
  let table: SessionTable
  try {
    table = SessionTable.fromCbor(sessions, limits)
  } catch (e) {
    return corrupt(e instanceof Error ? e.message : String(e))
  }
  if (!Array.isArray(entities)) return corrupt("entities is not an array")
  const decoded: Array<readonly [Uint8Array, unknown]> = []
  let previous: Uint8Array | undefined
  for (const entry of entities as ReadonlyArray<Cbor.CborValue>) {
    if (!Array.isArray(entry) || entry.length !== 2) corrupt("an entity is not an [id, state] pair")
    const [id, encoded] = entry as ReadonlyArray<Cbor.CborValue>
    if (!(id instanceof Uint8Array)) return corrupt("an entity id is not a byte string")
    const invalid = invalidReason(id)
    if (invalid !== undefined) corrupt(invalid)
    if (previous !== undefined && compare(previous, id) >= 0) corrupt("entity ids are not strictly ascending")
    previous = id
    const state = protocol.state.decode(encoded)
    if (Either.isLeft(state)) return corrupt(`a state does not decode: ${state.left}`)
    if (equals(Cbor.encode(encoded), protocol.initialBytes))
      corrupt("an entity is stored in the initial state")
    decoded.push([id, state.right])
  }
  return { clock: clock as number, sessions: table, entities: OrderedMap.fromSorted(decoded) }
}
