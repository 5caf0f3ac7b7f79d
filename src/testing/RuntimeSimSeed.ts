/**
 * Seeds of the simulations of real nodes (`RuntimeSim`, `PlacementSim`): a test's seed list,
 * overridable from the environment to replay one, and the mixing that derives every seeded
 * source of a run (each node incarnation's election jitter, the clients' backoff jitter) from
 * the run's one seed.
 */

/**
 * Seeds for a test: `defaults`, or the comma-separated list in `FLOTILLA_SEED` (replay with
 * `FLOTILLA_SEED=<seed> npx vitest run --config test/vitest.config.ts <file>`).
 */
export const seeds = (defaults: ReadonlyArray<number>): number[] => {
  const env = typeof process === "undefined" ? undefined : process.env.FLOTILLA_SEED
  if (env !== undefined && env.trim() !== "") return env.split(",").map((s) => Number(s.trim()))
  return [...defaults]
}

/**
 * A 32-bit seed derived from `seed` and two numbers naming what it seeds (a node and its
 * incarnation, say): distinct inputs give unrelated outputs, the same inputs the same one.
 */
export const mixSeed = (seed: number, a: number, b: number): number => {
  let z = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(a, 0x85ebca77) ^ Math.imul(b, 0xc2b2ae3d)) >>> 0
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d) >>> 0
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b) >>> 0
  return (z ^ (z >>> 16)) >>> 0
}
