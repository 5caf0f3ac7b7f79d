/**
 * Measures the shard's entity table (`OrderedMap`) against the simplest alternative, one
 * sorted array with binary search, for docs/decisions/0040. Not a test: run it by hand.
 *
 *   npx tsx test/entity/bench/OrderedMapBench.ts [entities...]
 */
import { compare, fromString } from "../../../src/runtime/entity/EntityId.js"
import { OrderedMap } from "../../../src/runtime/entity/OrderedMap.js"

/** The baseline: one sorted array of keys and one of values. */
class SortedArrayMap<V> {
  keys: Uint8Array[] = []
  values: V[] = []
  private bound(key: Uint8Array): number {
    let lo = 0
    let hi = this.keys.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (compare(this.keys[mid]!, key) < 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }
  set(key: Uint8Array, value: V): void {
    const j = this.bound(key)
    if (j < this.keys.length && compare(this.keys[j]!, key) === 0) this.values[j] = value
    else {
      this.keys.splice(j, 0, key)
      this.values.splice(j, 0, value)
    }
  }
  get(key: Uint8Array): V | undefined {
    const j = this.bound(key)
    return j < this.keys.length && compare(this.keys[j]!, key) === 0 ? this.values[j] : undefined
  }
  delete(key: Uint8Array): void {
    const j = this.bound(key)
    if (j < this.keys.length && compare(this.keys[j]!, key) === 0) {
      this.keys.splice(j, 1)
      this.values.splice(j, 1)
    }
  }
}

/** A deterministic xorshift generator, so runs are comparable. */
const rng = (seed: number) => () => {
  seed ^= seed << 13
  seed ^= seed >>> 17
  seed ^= seed << 5
  return (seed >>> 0) / 0x1_0000_0000
}

/** Runs `f` over every key, ignoring what it returns. */
const each = (keys: ReadonlyArray<Uint8Array>, f: (k: Uint8Array, i: number) => unknown) => {
  for (let i = 0; i < keys.length; i++) f(keys[i]!, i)
}

const time = (label: string, n: number, f: () => void) => {
  const t0 = performance.now()
  f()
  const ms = performance.now() - t0
  console.log(
    `${label.padEnd(34)} ${ms.toFixed(0).padStart(7)} ms  ${((ms * 1000) / n).toFixed(2).padStart(8)} µs/op`,
  )
}

for (const n of process.argv
  .slice(2)
  .map(Number)
  .filter((x) => x > 0).length > 0
  ? process.argv.slice(2).map(Number)
  : [10_000, 100_000, 1_000_000]) {
  const next = rng(42)
  const keys = Array.from({ length: n }, () => fromString(`user-${Math.floor(next() * 1e12).toString(36)}`))
  console.log(`--- ${n} entities, random keys of ~12 bytes`)
  const ordered = new OrderedMap<number>()
  time("OrderedMap insert (random order)", n, () => each(keys, (k, i) => ordered.set(k, i)))
  time("OrderedMap get", n, () => each(keys, (k) => ordered.get(k)))
  time("OrderedMap scan all", n, () => {
    let s = 0
    for (const [, v] of ordered.entries()) s += v
    if (s < 0) console.log(s)
  })
  time("OrderedMap delete half", n / 2, () => each(keys.slice(0, n / 2), (k) => ordered.delete(k)))
  if (n <= 200_000) {
    const sorted = new SortedArrayMap<number>()
    time("SortedArray insert (random order)", n, () => each(keys, (k, i) => sorted.set(k, i)))
    time("SortedArray get", n, () => each(keys, (k) => sorted.get(k)))
    time("SortedArray delete half", n / 2, () => each(keys.slice(0, n / 2), (k) => sorted.delete(k)))
  } else console.log("SortedArray skipped (quadratic inserts)")
}
