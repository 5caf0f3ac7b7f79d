/**
 * Batches of group requests: many requests to one group in one bus message, on
 * `flotilla.<c>.group.<gid>.batch` (served by the group's leader, like the group subject).
 * Each request is exactly what the group subject takes, and each answer exactly what it would
 * answer; a batch saves the per-message cost of the bus on both sides (docs/protocol.md).
 *
 * Format (big-endian): u16 count (1..MAX_BATCH), then count × (u32 length, bytes). The reply
 * has the same layout, answers in request order. A malformed batch is answered with count
 * 0xFFFF followed by a UTF-8 message, and nothing of it is served. When the answers together
 * exceed the bus's payload limit, the reply is the count 0xFFFE alone: every request was
 * served, and the sender asks again one request at a time (client/GroupBatcher.ts).
 *
 * The client core batches automatically (client/GroupBatcher.ts): concurrent requests of one
 * process to one group share a message while an earlier one to that group is in flight.
 */

/** Most requests in one batch. */
export const MAX_BATCH = 4096

/** The count that marks an error reply. */
export const BATCH_ERROR = 0xffff

/** The count of the reply to a batch whose answers are too large for one message. */
export const BATCH_REPLY_TOO_LARGE = 0xfffe

/** The reply to a batch whose answers are too large for one message. */
export const encodeBatchTooLarge = (): Uint8Array => new Uint8Array([0xff, 0xfe])

/** Encodes requests (or answers) as one batch. */
export const encodeBatch = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  let size = 2
  for (const p of parts) size += 4 + p.length
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  view.setUint16(0, parts.length)
  let at = 2
  for (const p of parts) {
    view.setUint32(at, p.length)
    out.set(p, at + 4)
    at += 4 + p.length
  }
  return out
}

/** Decodes a batch; a string says why it is malformed. Parts are views into `bytes`. */
export const decodeBatch = (bytes: Uint8Array): Uint8Array[] | string => {
  if (bytes.length < 2) return "a batch starts with a 2-byte count"
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const count = view.getUint16(0)
  if (count === 0 || count > MAX_BATCH) return `a batch holds 1..${MAX_BATCH} requests, not ${count}`
  const parts: Uint8Array[] = []
  let at = 2
  for (let i = 0; i < count; i++) {
    if (at + 4 > bytes.length) return `request ${i} is truncated`
    const len = view.getUint32(at)
    if (at + 4 + len > bytes.length) return `request ${i} runs past the end of the batch`
    parts.push(bytes.subarray(at + 4, at + 4 + len))
    at += 4 + len
  }
  if (at !== bytes.length) return `${bytes.length - at} bytes after the last request`
  return parts
}

/** The reply to a malformed batch. */
export const encodeBatchError = (message: string): Uint8Array => {
  const text = new TextEncoder().encode(message)
  const out = new Uint8Array(2 + text.length)
  new DataView(out.buffer).setUint16(0, BATCH_ERROR)
  out.set(text, 2)
  return out
}

/**
 * Decodes a batch reply: the answers, the error message of a refused batch, or `tooLarge` (all
 * served; ask again one at a time).
 */
export const decodeBatchReply = (
  bytes: Uint8Array,
): { answers: Uint8Array[] } | { error: string } | { tooLarge: true } => {
  const count = bytes.length >= 2 ? new DataView(bytes.buffer, bytes.byteOffset, 2).getUint16(0) : -1
  if (count === BATCH_ERROR) return { error: new TextDecoder().decode(bytes.subarray(2)) }
  if (count === BATCH_REPLY_TOO_LARGE && bytes.length === 2) return { tooLarge: true }
  const parts = decodeBatch(bytes)
  return typeof parts === "string" ? { error: `malformed batch reply: ${parts}` } : { answers: parts }
}
