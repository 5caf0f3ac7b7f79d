/**
 * An ordered map from byte-string keys (entity ids) to values, in byte-wise lexicographic
 * order: the entity table of a shard.
 *
 * Structure: a sorted list of sorted chunks, each holding between 1 and `2 * CHUNK` entries,
 * plus an array of every chunk's first key. A chunk past `2 * CHUNK` splits in half; a chunk
 * that a delete leaves small merges with a neighbour when both fit in `CHUNK`. A lookup is two
 * binary searches; an insert or a delete moves at most `2 * CHUNK` slots of one chunk (and, on
 * a split, a merge or an emptied chunk, one slot per chunk of the index). It is a B+-tree of height two, which is all a shard
 * needs: at a million entries the index holds about 4,000 chunks. docs/decisions/0040 has the
 * measurements against a single sorted array.
 *
 * Keys are NOT copied: a key handed to `set` MUST NOT be mutated afterwards.
 */
import { compare } from "./EntityId.js"

/** Target chunk size; a chunk splits when it exceeds twice this. */
export const CHUNK = 256

interface Chunk<V> {
  keys: Uint8Array[]
  values: V[]
}

/** First index in `keys` whose key is >= `key` (or `keys.length`). */
const lowerBound = (keys: ReadonlyArray<Uint8Array>, key: Uint8Array): number => {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (compare(keys[mid]!, key) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** A mutable ordered map keyed by byte strings. */
export class OrderedMap<V> {
  private chunks: Chunk<V>[] = []
  private firsts: Uint8Array[] = []
  private count = 0

  /** Builds a map from entries already in STRICTLY ASCENDING key order (checked; throws a RangeError). */
  static fromSorted<V>(entries: Iterable<readonly [Uint8Array, V]>): OrderedMap<V> {
    const map = new OrderedMap<V>()
    let current: Chunk<V> | undefined
    let previous: Uint8Array | undefined
    for (const [key, value] of entries) {
      if (previous !== undefined && compare(previous, key) >= 0)
        throw new RangeError("OrderedMap.fromSorted: keys are not strictly ascending")
      previous = key
      if (current === undefined || current.keys.length >= CHUNK) {
        current = { keys: [], values: [] }
        map.chunks.push(current)
        map.firsts.push(key)
      }
      current.keys.push(key)
      current.values.push(value)
      map.count++
    }
    return map
  }

  /** Number of entries. */
  get size(): number {
    return this.count
  }

  /** Index of the chunk that holds `key` or would receive it. Requires a non-empty map. */
  private chunkFor(key: Uint8Array): number {
    const i = lowerBound(this.firsts, key)
    if (i < this.firsts.length && compare(this.firsts[i]!, key) === 0) return i
    return i === 0 ? 0 : i - 1
  }

  /** The value at `key`, or `undefined`. */
  get(key: Uint8Array): V | undefined {
    if (this.count === 0) return undefined
    const chunk = this.chunks[this.chunkFor(key)]!
    const j = lowerBound(chunk.keys, key)
    return j < chunk.keys.length && compare(chunk.keys[j]!, key) === 0 ? chunk.values[j] : undefined
  }

  /** Whether `key` is present. */
  has(key: Uint8Array): boolean {
    if (this.count === 0) return false
    const chunk = this.chunks[this.chunkFor(key)]!
    const j = lowerBound(chunk.keys, key)
    return j < chunk.keys.length && compare(chunk.keys[j]!, key) === 0
  }

  /** Inserts or replaces the value at `key`. */
  set(key: Uint8Array, value: V): void {
    if (this.count === 0) {
      this.chunks = [{ keys: [key], values: [value] }]
      this.firsts = [key]
      this.count = 1
      return
    }
    const i = this.chunkFor(key)
    const chunk = this.chunks[i]!
    const j = lowerBound(chunk.keys, key)
    if (j < chunk.keys.length && compare(chunk.keys[j]!, key) === 0) {
      chunk.values[j] = value
      return
    }
    chunk.keys.splice(j, 0, key)
    chunk.values.splice(j, 0, value)
    if (j === 0) this.firsts[i] = key
    this.count++
    if (chunk.keys.length > 2 * CHUNK) {
      const tail: Chunk<V> = { keys: chunk.keys.splice(CHUNK), values: chunk.values.splice(CHUNK) }
      this.chunks.splice(i + 1, 0, tail)
      this.firsts.splice(i + 1, 0, tail.keys[0]!)
    }
  }

  /** Removes `key`; returns whether it was present. */
  delete(key: Uint8Array): boolean {
    if (this.count === 0) return false
    const i = this.chunkFor(key)
    const chunk = this.chunks[i]!
    const j = lowerBound(chunk.keys, key)
    if (j >= chunk.keys.length || compare(chunk.keys[j]!, key) !== 0) return false
    chunk.keys.splice(j, 1)
    chunk.values.splice(j, 1)
    this.count--
    if (chunk.keys.length === 0) {
      this.chunks.splice(i, 1)
      this.firsts.splice(i, 1)
      return true
    }
    if (j === 0) this.firsts[i] = chunk.keys[0]!
    // Merge a thin chunk with a neighbour, so that deletes cannot leave many tiny chunks.
    const previous = this.chunks[i - 1]
    if (previous !== undefined && previous.keys.length + chunk.keys.length <= CHUNK) this.mergeInto(i - 1)
    else {
      const next = this.chunks[i + 1]
      if (next !== undefined && chunk.keys.length + next.keys.length <= CHUNK) this.mergeInto(i)
    }
    return true
  }

  /** Appends chunk `i + 1` to chunk `i` and drops it. */
  private mergeInto(i: number): void {
    const into = this.chunks[i]!
    const from = this.chunks[i + 1]!
    into.keys.push(...from.keys)
    into.values.push(...from.values)
    this.chunks.splice(i + 1, 1)
    this.firsts.splice(i + 1, 1)
  }

  /**
   * Entries in ascending key order starting at `from` (inclusive), or strictly after it when
   * `exclusive`; from the first entry when `from` is undefined. The map MUST NOT be modified
   * while the iterator is in use.
   */
  *entriesFrom(from?: Uint8Array, exclusive = false): IterableIterator<readonly [Uint8Array, V]> {
    if (this.count === 0) return
    let i = 0
    let j = 0
    if (from !== undefined) {
      i = this.chunkFor(from)
      const chunk = this.chunks[i]!
      j = lowerBound(chunk.keys, from)
      if (exclusive && j < chunk.keys.length && compare(chunk.keys[j]!, from) === 0) j++
    }
    for (; i < this.chunks.length; i++, j = 0) {
      const chunk = this.chunks[i]!
      for (; j < chunk.keys.length; j++) yield [chunk.keys[j]!, chunk.values[j]!]
    }
  }

  /** All entries in ascending key order. */
  entries(): IterableIterator<readonly [Uint8Array, V]> {
    return this.entriesFrom()
  }

  /** Number of chunks (exposed for tests of the structure's invariants). */
  get chunkCount(): number {
    return this.chunks.length
  }
}
