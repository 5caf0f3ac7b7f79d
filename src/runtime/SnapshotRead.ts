/**
 * A linearizable snapshot read: the whole state of a group's state machine, taken on the
 * leader once it has applied up to a ReadIndex read point, with the index and term of the
 * last entry it reflects. Backups read shards this way (docs/operations.md).
 *
 * Inside the runtime it travels as a read's reply bytes: `index u64 | term u64 | data`.
 */

/** The state of a group at one applied index. */
export interface SnapshotRead {
  /** The last applied entry the state reflects. */
  readonly index: number
  /** That entry's term. */
  readonly term: number
  /** `StateMachine.snapshot()` at that point. */
  readonly data: Uint8Array
}

const HEADER_BYTES = 16

/** The reply bytes of a snapshot read (copies `data` once, behind the 16-byte header). */
export const encodeSnapshotRead = (r: SnapshotRead): Uint8Array => {
  const out = new Uint8Array(HEADER_BYTES + r.data.length)
  const view = new DataView(out.buffer)
  view.setBigUint64(0, BigInt(r.index))
  view.setBigUint64(8, BigInt(r.term))
  out.set(r.data, HEADER_BYTES)
  return out
}

/** The snapshot read in reply bytes made by `encodeSnapshotRead` (`data` is a view, no copy). */
export const decodeSnapshotRead = (bytes: Uint8Array): SnapshotRead => {
  if (bytes.length < HEADER_BYTES) throw new RangeError(`a snapshot read reply of ${bytes.length} bytes`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return {
    index: Number(view.getBigUint64(0)),
    term: Number(view.getBigUint64(8)),
    data: bytes.subarray(HEADER_BYTES),
  }
}
