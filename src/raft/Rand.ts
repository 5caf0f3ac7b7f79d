/**
 * The core's only source of randomness (election jitter) is injected through `Rand`. The
 * default is a small seeded generator, so a core with the same seed and inputs behaves the
 * same every time; the simulator passes one seeded from the run's seed.
 */
export interface Rand {
  /** A uniformly distributed integer in [0, n). */
  intn(n: number): number
}

/** SplitMix32-style generator: fast, 32-bit state, good enough for jitter and simulation. */
export const seededRand = (seed: number): Rand & { next(): number } => {
  let state = seed >>> 0 || 0x9e3779b9
  const next = (): number => {
    state = (state + 0x9e3779b9) >>> 0
    let z = state
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
  return {
    next,
    intn: (n: number) => (n <= 1 ? 0 : next() % n),
  }
}
