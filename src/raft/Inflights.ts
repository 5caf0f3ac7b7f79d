/**
 * The bounded window of MsgApp messages in flight to one follower: a ring buffer of the last
 * index of each message and its size. A follower in Replicate state is paused when the window
 * is full (by count or by bytes) and resumes as acknowledgements free it.
 */
import type { Index } from "./Types.js"

const EMPTY = new Float64Array(0)

export class Inflights {
  private start = 0
  private n = 0
  private bytes = 0
  // Grown on demand up to `capacity`: most followers of most groups never fill a window.
  private indexes: Float64Array = EMPTY
  private sizes: Float64Array = EMPTY

  /**
   * @param capacity most messages in flight
   * @param maxBytes most payload bytes in flight (0 = no byte limit)
   */
  constructor(
    readonly capacity: number,
    readonly maxBytes: number,
  ) {}

  private grow(): void {
    const size = Math.min(this.capacity, Math.max(8, this.indexes.length * 2))
    const indexes = new Float64Array(size)
    const sizes = new Float64Array(size)
    // Unroll the ring into the new arrays, oldest first.
    for (let i = 0, at = this.start; i < this.n; i++, at = at + 1 === this.indexes.length ? 0 : at + 1) {
      indexes[i] = this.indexes[at]!
      sizes[i] = this.sizes[at]!
    }
    this.indexes = indexes
    this.sizes = sizes
    this.start = 0
  }

  /** Records a message whose last entry has `index` and whose entries weigh `bytes`. */
  add(index: Index, bytes: number): void {
    if (this.n === this.capacity) throw new RangeError("Inflights.add on a full window")
    if (this.n === this.indexes.length) this.grow()
    let at = this.start + this.n
    if (at >= this.indexes.length) at -= this.indexes.length
    this.indexes[at] = index
    this.sizes[at] = bytes
    this.n++
    this.bytes += bytes
  }

  /** Frees every message whose last index is ≤ `to`. */
  freeLE(to: Index): void {
    if (this.n === 0 || to < this.indexes[this.start]!) return
    let i = 0
    let idx = this.start
    let freedBytes = 0
    for (; i < this.n; i++) {
      if (to < this.indexes[idx]!) break
      freedBytes += this.sizes[idx]!
      if (++idx >= this.indexes.length) idx = 0
    }
    this.n -= i
    this.bytes -= freedBytes
    this.start = this.n === 0 ? 0 : idx
  }

  full(): boolean {
    return this.n === this.capacity || (this.maxBytes > 0 && this.bytes >= this.maxBytes)
  }

  count(): number {
    return this.n
  }

  reset(): void {
    this.start = 0
    this.n = 0
    this.bytes = 0
  }
}
