/**
 * Entity ids and the slot hash that every layer uses to place them.
 *
 * An entity id is a byte string (`Uint8Array`, 1 .. `MAX_ENTITY_ID_BYTES` bytes); strings are
 * carried as their UTF-8 bytes. Ids are ORDERED BYTE-WISE, lexicographically (a shorter id
 * sorts before every longer id it is a prefix of), which is the order of scans.
 *
 * An id maps to one of `SLOT_COUNT` hash slots by `slotOf`: CRC-16/XMODEM of the bytes
 * (polynomial 0x1021, initial value 0, no reflection, no final xor) modulo 16,384, Redis
 * Cluster's function, as decided for keyspaces in docs/decisions/0032. THE SLOT FUNCTION IS
 * PART OF THE WIRE CONTRACT: clients, the metadata group (`src/meta/Slots.ts`, which this
 * layer may not import) and the shards must agree on it, so it never changes; a test checks
 * this module against `src/meta/Slots.ts` on random ids.
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

const CRC16_TABLE = (() => {
  const table = new Uint16Array(256)
  for (let n = 0; n < 256; n++) {
    let crc = n << 8
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
    table[n] = crc
  }
  return table
})()

/** CRC-16/XMODEM of `bytes` (check value: `crc16(utf8("123456789")) === 0x31c3`). */
export const crc16 = (bytes: Uint8Array): number => {
  let crc = 0
  for (let i = 0; i < bytes.length; i++)
    crc = ((crc << 8) & 0xff00) ^ CRC16_TABLE[((crc >>> 8) ^ bytes[i]!) & 0xff]!
  return crc
}

const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d

/**
 * The bytes of `id` that choose its slot: a hash tag (Redis Cluster's rule) when the id has
 * a `{` followed later by a `}` with at least one byte between them, the bytes inside that
 * first `{...}`; otherwise the whole id. `user:{42}:name` and `cart:{42}` share a slot.
 */
export const hashedPart = (id: Uint8Array): Uint8Array => {
  const open = id.indexOf(OPEN_BRACE)
  if (open < 0) return id
  const close = id.indexOf(CLOSE_BRACE, open + 1)
  if (close < 0 || close === open + 1) return id
  return id.subarray(open + 1, close)
}

/** The hash slot (0 .. SLOT_COUNT - 1) of an entity id: CRC-16 of its `hashedPart`. */
export const slotOf = (id: Uint8Array): number => crc16(hashedPart(id)) % SLOT_COUNT
