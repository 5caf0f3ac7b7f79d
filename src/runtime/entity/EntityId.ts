/**
 * Entity ids and the slot hash that every layer uses to place them.
 *
 * An entity id is a byte string (`Uint8Array`, 1 .. `MAX_ENTITY_ID_BYTES` bytes); strings are
 * carried as their UTF-8 bytes. Ids are ORDERED BYTE-WISE, lexicographically (a shorter id
 * sorts before every longer id it is a prefix of), which is the order of scans.
 *
 * An id maps to one of `SLOT_COUNT` hash slots by `slotOf`: 32-bit FNV-1a over the bytes,
 * followed by the murmur3 `fmix32` finalizer (FNV-1a alone mixes its low bits poorly, and the
 * slot is taken from the low bits). THE HASH IS PART OF THE WIRE CONTRACT: the client, the
 * placement layer and the shards must agree on it, so it never changes; golden values are
 * pinned by tests and listed in docs/entities.md for implementers in other languages.
 */

/** An entity id: raw bytes. Treat as immutable once handed to the runtime. */
export type EntityId = Uint8Array

/** Longest entity id accepted, in bytes (4 KiB; also the KV store's key limit). */
export const MAX_ENTITY_ID_BYTES = 4096

/** Number of hash slots; a power of two. Shards own sets (ranges) of slots. */
export const SLOT_COUNT = 16384

const encoder = new TextEncoder()
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
const lenientDecoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true })

/** The UTF-8 bytes of a string (lone surrogates become U+FFFD, as `TextEncoder` does). */
export const fromString = (text: string): EntityId => encoder.encode(text)

/** Accepts a string (encoded as UTF-8) or bytes (returned as they are). */
export const make = (id: string | Uint8Array): EntityId => (typeof id === "string" ? fromString(id) : id)

/** Decodes UTF-8 bytes; `undefined` when they are not valid UTF-8. */
export const toStringStrict = (id: Uint8Array): string | undefined => {
  try {
    return strictDecoder.decode(id)
  } catch {
    return undefined
  }
}

/** Decodes UTF-8 bytes, replacing invalid sequences with U+FFFD (for display). */
export const toStringLenient = (id: Uint8Array): string => lenientDecoder.decode(id)

/** Lower-case hex of the bytes (for messages and logs). */
export const toHex = (bytes: Uint8Array): string => {
  let out = ""
  for (let i = 0; i < bytes.length; i++) out += bytes[i]!.toString(16).padStart(2, "0")
  return out
}

/** A short printable rendering of an id: its text when it is printable UTF-8, else hex. */
export const display = (id: Uint8Array): string => {
  const text = toStringStrict(id)
  const shown = text !== undefined && /^[\x20-\x7e]*$/.test(text) ? JSON.stringify(text) : `0x${toHex(id)}`
  return shown.length > 80 ? `${shown.slice(0, 77)}...` : shown
}

/**
 * Byte-wise lexicographic comparison: negative when `a` sorts first, 0 when equal, positive
 * when `b` sorts first. THIS IS THE ORDER OF EVERY SCAN.
 */
export const compare = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!
    if (d !== 0) return d
  }
  return a.length - b.length
}

/** Whether two byte strings are equal. */
export const equals = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Whether `id` starts with `prefix`. */
export const hasPrefix = (id: Uint8Array, prefix: Uint8Array): boolean => {
  if (prefix.length > id.length) return false
  for (let i = 0; i < prefix.length; i++) if (id[i] !== prefix[i]) return false
  return true
}

/**
 * The smallest byte string greater than every string starting with `prefix`, or `undefined`
 * when there is none (the prefix is empty or all 0xff bytes). Turns a prefix into an
 * exclusive upper bound.
 */
export const prefixEnd = (prefix: Uint8Array): Uint8Array | undefined => {
  let end = prefix.length
  while (end > 0 && prefix[end - 1] === 0xff) end--
  if (end === 0) return undefined
  const out = prefix.slice(0, end)
  out[end - 1]! += 1
  return out
}

/** Why `id` is not a valid entity id, or `undefined` when it is valid. */
export const invalidReason = (id: Uint8Array): string | undefined => {
  if (id.length === 0) return "entity id is empty"
  if (id.length > MAX_ENTITY_ID_BYTES)
    return `entity id is ${id.length} bytes, the limit is ${MAX_ENTITY_ID_BYTES}`
  return undefined
}

/**
 * The 32-bit slot hash of a byte string: FNV-1a (offset basis 0x811c9dc5, prime 0x01000193)
 * then murmur3's fmix32. Returns an unsigned 32-bit integer.
 */
export const hash32 = (bytes: Uint8Array): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** The hash slot (0 .. SLOT_COUNT - 1) of an entity id. */
export const slotOf = (id: Uint8Array): number => hash32(id) & (SLOT_COUNT - 1)
