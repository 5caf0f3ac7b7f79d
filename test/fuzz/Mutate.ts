/**
 * Mutations of valid encodings for fuzzing: bit flips, byte overwrites, insertions, deletions,
 * truncation, duplicated slices, splices of two encodings and interesting values (0x00, 0xff,
 * 0x7f, 0x80) written over a few bytes. Driven by a small seeded PRNG so a run replays.
 */

/** sfc32 through splitmix32: uniform in [0, 1). */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number
  constructor(seed: number) {
    let s = seed >>> 0
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = next()
    this.b = next()
    this.c = next()
    this.d = next()
  }
  next(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0
    this.d = (this.d + 1) >>> 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) >>> 0
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0
    this.c = (this.c + t) >>> 0
    return t / 4294967296
  }
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
}

const INTERESTING = [0x00, 0xff, 0x7f, 0x80, 0x01, 0x22, 0x5c, 0x5b, 0x7b]

/** One to four mutations of `base`, sometimes spliced with `other`. */
export const mutate = (base: Uint8Array, other: Uint8Array, rng: Rng): Uint8Array => {
  let b = Array.from(base)
  const rounds = 1 + rng.int(4)
  for (let k = 0; k < rounds; k++) {
    const at = rng.int(b.length + 1)
    switch (rng.int(8)) {
      case 0:
        if (b.length > 0) b[Math.min(at, b.length - 1)]! ^= 1 << rng.int(8)
        break
      case 1:
        if (b.length > 0) b[Math.min(at, b.length - 1)] = rng.int(256)
        break
      case 2:
        b.splice(at, 0, rng.int(256))
        break
      case 3:
        b.splice(at, 1 + rng.int(4))
        break
      case 4:
        b = b.slice(0, at)
        break
      case 5: {
        const len = rng.int(16)
        b.splice(at, 0, ...b.slice(at, at + len))
        break
      }
      case 6: {
        const cut = rng.int(other.length + 1)
        b = [...b.slice(0, at), ...Array.from(other.subarray(cut))]
        break
      }
      default:
        for (let i = 0; i < 1 + rng.int(3) && b.length > 0; i++)
          b[rng.int(b.length)] = INTERESTING[rng.int(INTERESTING.length)]!
    }
  }
  return Uint8Array.from(b)
}
