/**
 * A small, deterministic CBOR (RFC 8949) codec: the byte form of every entity payload, reply,
 * session record and snapshot. CBOR is chosen so that clients in any language can speak to
 * shards with an off-the-shelf library (docs/decisions/0041).
 *
 * Supported subset: unsigned and negative integers, byte strings, UTF-8 text strings, arrays,
 * maps with text keys, false / true / null / undefined, and floats (16, 32 and 64 bit on
 * input; 64 bit on output). Not supported: tags, indefinite lengths, integers beyond 2^53,
 * non-text map keys, duplicate map keys.
 *
 * ENCODING IS DETERMINISTIC: the same value always gives the same bytes (integers in their
 * shortest form, every non-integer number as a float64 with one canonical NaN, map entries in
 * the object's own key order). Decoding accepts any well-formed item of the subset, checks
 * every length against the bytes actually present before allocating, bounds nesting at
 * `MAX_DEPTH`, and throws `CborError` on anything else; it never reads out of bounds.
 */
import { Data } from "effect"

/** A value the codec carries. Objects must be plain (prototype `Object.prototype` or null). */
export type CborValue =
  | null
  | undefined
  | boolean
  | number
  | string
  | Uint8Array
  | Raw
  | ReadonlyArray<CborValue>
  | { readonly [key: string]: CborValue }

/** Nesting limit of arrays and maps, on encode and decode. */
export const MAX_DEPTH = 64

/** Why bytes could not be decoded, or a value could not be encoded. */
export class CborError extends Data.TaggedError("CborError")<{ readonly message: string }> {}

/** One already-encoded CBOR item, written through unchanged by `encode` (not produced by `decode`). */
export class Raw {
  /** `bytes` MUST hold exactly one well-formed item of the subset. */
  constructor(readonly bytes: Uint8Array) {}
}

const fail = (message: string): never => {
  throw new CborError({ message })
}

const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const TWO_32 = 0x1_0000_0000

class Writer {
  buf = new Uint8Array(256)
  view = new DataView(this.buf.buffer)
  pos = 0

  /** Drops a large buffer, back to the initial size. */
  reset(): void {
    this.buf = new Uint8Array(256)
    this.view = new DataView(this.buf.buffer)
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
    this.view = new DataView(next.buffer)
  }

  head(major: number, arg: number): void {
    const m = major << 5
    this.ensure(9)
    if (arg < 24) this.buf[this.pos++] = m | arg
    else if (arg < 0x100) {
      this.buf[this.pos++] = m | 24
      this.buf[this.pos++] = arg
    } else if (arg < 0x10000) {
      this.buf[this.pos++] = m | 25
      this.view.setUint16(this.pos, arg)
      this.pos += 2
    } else if (arg < TWO_32) {
      this.buf[this.pos++] = m | 26
      this.view.setUint32(this.pos, arg)
      this.pos += 4
    } else {
      this.buf[this.pos++] = m | 27
      this.view.setUint32(this.pos, Math.floor(arg / TWO_32))
      this.view.setUint32(this.pos + 4, arg >>> 0)
      this.pos += 8
    }
  }

  bytes(bytes: Uint8Array): void {
    this.ensure(bytes.length)
    // `set` has a fixed cost that a loop beats on the short strings that dominate requests.
    if (bytes.length < 32) for (let i = 0; i < bytes.length; i++) this.buf[this.pos + i] = bytes[i]!
    else this.buf.set(bytes, this.pos)
    this.pos += bytes.length
  }

  byte(b: number): void {
    this.ensure(1)
    this.buf[this.pos++] = b
  }

  text(v: string): void {
    // Fast path: ASCII is its own UTF-8.
    if (v.length < 64) {
      let ascii = true
      for (let i = 0; i < v.length; i++) {
        if (v.charCodeAt(i) >= 0x80) {
          ascii = false
          break
        }
      }
      if (ascii) {
        this.head(3, v.length)
        this.ensure(v.length)
        for (let i = 0; i < v.length; i++) this.buf[this.pos++] = v.charCodeAt(i)
        return
      }
    }
    if (LONE_SURROGATE.test(v)) fail("cannot encode a string holding a lone UTF-16 surrogate")
    const b = utf8.encode(v)
    this.head(3, b.length)
    this.bytes(b)
  }

  float64(n: number): void {
    this.ensure(9)
    this.buf[this.pos++] = 0xfb
    if (Number.isNaN(n)) {
      this.view.setUint32(this.pos, 0x7ff80000)
      this.view.setUint32(this.pos + 4, 0)
    } else this.view.setFloat64(this.pos, n)
    this.pos += 8
  }

  value(v: CborValue, depth: number): void {
    if (v === null) this.byte(0xf6)
    else if (v === undefined) this.byte(0xf7)
    else if (v === true) this.byte(0xf5)
    else if (v === false) this.byte(0xf4)
    else if (typeof v === "number") {
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) {
        if (v >= 0) this.head(0, v)
        else this.head(1, -1 - v)
      } else this.float64(v)
    } else if (typeof v === "string") this.text(v)
    else if (v instanceof Uint8Array) {
      this.head(2, v.length)
      this.bytes(v)
    } else if (v instanceof Raw) this.bytes(v.bytes)
    else if (Array.isArray(v)) {
      if (depth >= MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`)
      this.head(4, v.length)
      for (const item of v as ReadonlyArray<CborValue>) this.value(item, depth + 1)
    } else if (typeof v === "object") {
      const proto = Object.getPrototypeOf(v)
      if (proto !== Object.prototype && proto !== null)
        fail(
          `cannot encode an instance of ${proto?.constructor?.name ?? "a class"}; encode it with its Schema first`,
        )
      if (depth >= MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`)
      const keys = Object.keys(v)
      this.head(5, keys.length)
      for (const key of keys) {
        this.value(key, depth + 1)
        this.value((v as { readonly [key: string]: CborValue })[key], depth + 1)
      }
    } else fail(`cannot encode a value of type ${typeof v}`)
  }
}

/** One writer reused by every `encode` call (allocating one per call showed up in profiles). */
const shared = new Writer()
let sharedBusy = false
const KEEP_BYTES = 1 << 16

/** Encodes a value; throws `CborError` on a value outside the subset. */
export const encode = (value: CborValue): Uint8Array => {
  // A getter inside `value` could call `encode` again: only the outermost call uses `shared`.
  const w = sharedBusy ? new Writer() : shared
  const owner = w === shared
  sharedBusy = true
  w.pos = 0
  try {
    w.value(value, 0)
    return w.buf.slice(0, w.pos)
  } finally {
    if (owner) {
      sharedBusy = false
      if (w.buf.length > KEEP_BYTES) w.reset()
    }
  }
}

const halfToNumber = (h: number): number => {
  const sign = h & 0x8000 ? -1 : 1
  const exp = (h >> 10) & 0x1f
  const mant = h & 0x3ff
  if (exp === 0) return sign * mant * 2 ** -24
  if (exp === 0x1f) return mant === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN
  return sign * (1 + mant / 1024) * 2 ** (exp - 15)
}

class Reader {
  readonly view: DataView
  pos = 0

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  get remaining(): number {
    return this.bytes.length - this.pos
  }

  need(n: number): void {
    if (n > this.remaining)
      fail(`truncated: needs ${n} more byte(s) at offset ${this.pos}, has ${this.remaining}`)
  }

  /** The argument of a head whose additional info is `ai`. */
  arg(ai: number): number {
    if (ai < 24) return ai
    if (ai === 24) {
      this.need(1)
      return this.bytes[this.pos++]!
    }
    if (ai === 25) {
      this.need(2)
      const v = this.view.getUint16(this.pos)
      this.pos += 2
      return v
    }
    if (ai === 26) {
      this.need(4)
      const v = this.view.getUint32(this.pos)
      this.pos += 4
      return v
    }
    if (ai === 27) {
      this.need(8)
      const hi = this.view.getUint32(this.pos)
      const lo = this.view.getUint32(this.pos + 4)
      this.pos += 8
      if (hi > 0x1fffff) fail("integer or length beyond 2^53 - 1")
      return hi * TWO_32 + lo
    }
    if (ai === 31) return fail("indefinite lengths are not supported")
    return fail(`reserved additional information ${ai}`)
  }

  /** The text string of `n` bytes at the current position (which does not move). */
  text(n: number): string {
    // Fast path: short ASCII strings, without the per-call cost of TextDecoder.
    if (n < 64) {
      let out = ""
      for (let i = this.pos; i < this.pos + n; i++) {
        const b = this.bytes[i]!
        if (b >= 0x80) return this.utf8(n)
        out += String.fromCharCode(b)
      }
      return out
    }
    return this.utf8(n)
  }

  utf8(n: number): string {
    try {
      return strictUtf8.decode(this.bytes.subarray(this.pos, this.pos + n))
    } catch {
      return fail(`invalid UTF-8 in a text string at offset ${this.pos}`)
    }
  }

  value(depth: number): CborValue {
    this.need(1)
    const initial = this.bytes[this.pos++]!
    const major = initial >> 5
    const ai = initial & 0x1f
    switch (major) {
      case 0:
        return this.arg(ai)
      case 1:
        return -1 - this.arg(ai)
      case 2: {
        const n = this.arg(ai)
        this.need(n)
        const out = this.bytes.slice(this.pos, this.pos + n)
        this.pos += n
        return out
      }
      case 3: {
        const n = this.arg(ai)
        this.need(n)
        const text = this.text(n)
        this.pos += n
        return text
      }
      case 4: {
        const n = this.arg(ai)
        if (n > this.remaining) fail(`array of ${n} items cannot fit in ${this.remaining} byte(s)`)
        if (depth >= MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`)
        const out: CborValue[] = new Array(n)
        for (let i = 0; i < n; i++) out[i] = this.value(depth + 1)
        return out
      }
      case 5: {
        const n = this.arg(ai)
        if (n * 2 > this.remaining) fail(`map of ${n} entries cannot fit in ${this.remaining} byte(s)`)
        if (depth >= MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`)
        const out: { [key: string]: CborValue } = {}
        for (let i = 0; i < n; i++) {
          const key = this.value(depth + 1)
          if (typeof key !== "string") fail("map keys must be text strings")
          const k = key as string
          if (Object.hasOwn(out, k)) fail(`duplicate map key ${JSON.stringify(k)}`)
          const v = this.value(depth + 1)
          if (k === "__proto__")
            Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true })
          else out[k] = v
        }
        return out
      }
      case 6:
        return fail("tags are not supported")
      default:
        return this.simple(ai)
    }
  }

  simple(ai: number): CborValue {
    switch (ai) {
      case 20:
        return false
      case 21:
        return true
      case 22:
        return null
      case 23:
        return undefined
      case 25: {
        this.need(2)
        const v = halfToNumber(this.view.getUint16(this.pos))
        this.pos += 2
        return v
      }
      case 26: {
        this.need(4)
        const v = this.view.getFloat32(this.pos)
        this.pos += 4
        return v
      }
      case 27: {
        this.need(8)
        const v = this.view.getFloat64(this.pos)
        this.pos += 8
        return v
      }
      default:
        return fail(`unsupported simple value or break (additional information ${ai})`)
    }
  }
}

/** Decodes exactly one item filling all of `bytes`; throws `CborError` otherwise. */
export const decode = (bytes: Uint8Array): CborValue => {
  const r = new Reader(bytes)
  const v = r.value(0)
  if (r.pos !== bytes.length) fail(`${bytes.length - r.pos} trailing byte(s) after the item`)
  return v
}
