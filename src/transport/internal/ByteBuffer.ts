/**
 * Byte-level building blocks of the frame codec: a growable writer and a bounds-checked reader
 * with unsigned LEB128 varints for safe integers (0 .. 2^53 - 1).
 *
 * The reader never reads past its end and never allocates more than the bytes it holds: every
 * failure becomes a `DecodeFailure` thrown to the one `try` in `Frame.decodeFrame`, which turns
 * it into a typed `FrameError`. Nothing here is exported from the package.
 */

/** Why a read failed; mapped one to one onto the public `FrameError` reasons. */
export type DecodeFailureReason = "malformed" | "truncated"

/**
 * Internal control flow of the decoder: thrown by the reader, caught by `decodeFrame` only.
 * Deliberately not an `Error` (no stack capture) so a flood of garbage frames stays cheap.
 */
export class DecodeFailure {
  constructor(
    readonly reason: DecodeFailureReason,
    readonly detail: string,
    readonly offset: number,
  ) {}
}

/**
 * A number the codec cannot encode (negative, fractional, above 2^53 - 1). A subclass of
 * RangeError so the frame splitter can tell a bad VALUE in one message (left out, counted)
 * from a caller's bug such as a wrong address (thrown).
 */
export class UnencodableNumber extends RangeError {}

/** Largest value a varint may carry (Number.MAX_SAFE_INTEGER). */
export const MAX_VARINT = Number.MAX_SAFE_INTEGER
/** A safe integer needs at most 8 varint bytes (8 * 7 = 56 >= 53 bits). */
export const MAX_VARINT_BYTES = 8

const TWO_POW_28 = 2 ** 28

/** Bytes a varint of `n` takes. `n` must be a non-negative safe integer. */
export const varintSize = (n: number): number => {
  let size = 1
  while (n >= 0x80) {
    n = Math.floor(n / 128)
    size++
  }
  return size
}

/**
 * An append-only byte buffer that grows by doubling. `truncate` rolls back to an earlier
 * length (the frame splitter uses it to undo a record that did not fit).
 */
export class ByteWriter {
  private buf: Uint8Array
  private view: DataView
  /** Bytes written so far. */
  length = 0

  constructor(initialCapacity = 1024) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity))
    this.view = new DataView(this.buf.buffer)
  }

  private ensure(extra: number): void {
    const needed = this.length + extra
    if (needed <= this.buf.length) return
    let capacity = this.buf.length * 2
    while (capacity < needed) capacity *= 2
    const next = new Uint8Array(capacity)
    next.set(this.buf.subarray(0, this.length))
    this.buf = next
    this.view = new DataView(next.buffer)
  }

  /** Writes one byte (0..255). */
  u8(n: number): void {
    this.ensure(1)
    this.buf[this.length++] = n
  }

  /** Writes a big-endian 16-bit unsigned integer. */
  u16(n: number): void {
    this.ensure(2)
    this.view.setUint16(this.length, n)
    this.length += 2
  }

  /** Writes a big-endian 32-bit unsigned integer. */
  u32(n: number): void {
    this.ensure(4)
    this.view.setUint32(this.length, n)
    this.length += 4
  }

  /** Overwrites a big-endian 32-bit unsigned integer at `offset` (< length). */
  patchU32(offset: number, n: number): void {
    this.view.setUint32(offset, n)
  }

  /**
   * Writes an unsigned LEB128 varint. THROWS a RangeError when `n` is not a non-negative safe
   * integer: the encoder's input is the program's own data, so a bad value is a bug.
   */
  varint(n: number): void {
    if (!(n >= 0 && n <= MAX_VARINT && Number.isInteger(n)))
      throw new UnencodableNumber(`varint must be a non-negative safe integer, got ${n}`)
    this.ensure(MAX_VARINT_BYTES)
    const buf = this.buf
    let at = this.length
    while (n >= TWO_POW_28) {
      buf[at++] = (n % 128) | 0x80
      n = Math.floor(n / 128)
    }
    while (n >= 0x80) {
      buf[at++] = (n & 0x7f) | 0x80
      n >>>= 7
    }
    buf[at++] = n
    this.length = at
  }

  /** Writes `bytes.length` as a varint, then the bytes. */
  bytes(bytes: Uint8Array): void {
    this.varint(bytes.length)
    this.ensure(bytes.length)
    this.buf.set(bytes, this.length)
    this.length += bytes.length
  }

  /** Forgets everything written after `length`. */
  truncate(length: number): void {
    this.length = length
  }

  /** A copy of the bytes written so far (the writer may be reused afterwards). */
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.length)
  }

  /** Empties the writer for reuse, dropping its buffer if it grew beyond `keepCapacity`. */
  reset(keepCapacity: number): void {
    this.length = 0
    if (this.buf.length > keepCapacity) {
      this.buf = new Uint8Array(keepCapacity)
      this.view = new DataView(this.buf.buffer)
    }
  }
}

/** A cursor over a byte array; every read checks bounds and throws `DecodeFailure`. */
export class ByteReader {
  private readonly view: DataView
  /** Position of the next read. */
  offset = 0

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.buf.length - this.offset
  }

  /** Throws a `DecodeFailure` of the given reason at the current offset. */
  fail(reason: DecodeFailureReason, detail: string): never {
    throw new DecodeFailure(reason, detail, this.offset)
  }

  private need(n: number, what: string): void {
    if (this.buf.length - this.offset < n)
      this.fail("truncated", `${what}: need ${n} byte(s), ${this.buf.length - this.offset} left`)
  }

  /** Reads one byte. */
  u8(what: string): number {
    this.need(1, what)
    return this.buf[this.offset++]!
  }

  /** Reads a big-endian 16-bit unsigned integer. */
  u16(what: string): number {
    this.need(2, what)
    const n = this.view.getUint16(this.offset)
    this.offset += 2
    return n
  }

  /** Reads a big-endian 32-bit unsigned integer. */
  u32(what: string): number {
    this.need(4, what)
    const n = this.view.getUint32(this.offset)
    this.offset += 4
    return n
  }

  /**
   * Reads a varint. Rejects (as malformed) encodings longer than 8 bytes, values above
   * 2^53 - 1 and non-minimal encodings (a final 0x00 byte after a continuation), so every
   * value has exactly one encoding.
   */
  varint(what: string): number {
    const at = this.offset
    if (at < this.buf.length) {
      const b = this.buf[at]!
      if (b < 0x80) {
        this.offset = at + 1
        return b
      }
    }
    return this.varintSlow(what)
  }

  private varintSlow(what: string): number {
    const buf = this.buf
    const start = this.offset
    // The first 28 bits with int32 arithmetic, so small values stay small integers (V8 Smis)
    // and never become heap-allocated doubles in the decoded messages.
    let small = 0
    let i = 0
    for (; i < 4; i++) {
      if (start + i >= buf.length) {
        this.offset = start + i
        this.fail("truncated", `${what}: varint cut short`)
      }
      const b = buf[start + i]!
      small |= (b & 0x7f) << (7 * i)
      if (b < 0x80) {
        if (b === 0 && i > 0) {
          this.offset = start
          this.fail("malformed", `${what}: non-minimal varint`)
        }
        this.offset = start + i + 1
        return small
      }
    }
    let value = small
    let scale = TWO_POW_28
    for (; i < MAX_VARINT_BYTES; i++) {
      if (start + i >= buf.length) {
        this.offset = start + i
        this.fail("truncated", `${what}: varint cut short`)
      }
      const b = buf[start + i]!
      value += (b & 0x7f) * scale
      if (b < 0x80) {
        if (b === 0) {
          this.offset = start
          this.fail("malformed", `${what}: non-minimal varint`)
        }
        if (value > MAX_VARINT) {
          this.offset = start
          this.fail("malformed", `${what}: varint above 2^53-1`)
        }
        this.offset = start + i + 1
        return value
      }
      scale *= 128
    }
    this.offset = start
    return this.fail("malformed", `${what}: varint longer than ${MAX_VARINT_BYTES} bytes`)
  }

  /** Reads a varint no larger than `max`. */
  varintAtMost(max: number, what: string): number {
    const start = this.offset
    const n = this.varint(what)
    if (n > max) {
      this.offset = start
      this.fail("malformed", `${what}: ${n} exceeds ${max}`)
    }
    return n
  }

  /**
   * Reads a count of items that each take at least `minItemBytes`: a count the remaining bytes
   * cannot hold is reported as truncated before anything is allocated for it.
   */
  count(minItemBytes: number, what: string): number {
    const start = this.offset
    const n = this.varint(what)
    if (n * minItemBytes > this.remaining) {
      this.offset = start
      this.fail("truncated", `${what}: ${n} item(s) cannot fit in ${this.remaining} byte(s)`)
    }
    return n
  }

  /** Reads a varint length and then that many bytes, COPIED (the frame buffer is not retained). */
  bytes(what: string): Uint8Array {
    const len = this.varint(`${what} length`)
    this.need(len, what)
    // A fresh Uint8Array, never `slice` (a Node Buffer's `slice` is a view, not a copy).
    const out = new Uint8Array(len)
    out.set(this.buf.subarray(this.offset, this.offset + len))
    this.offset += len
    return out
  }
}
