/**
 * The fault schedule of the real-process nemesis (Nemesis.ts): which faults, on which node,
 * when and for how long, all drawn from one seed so that a run replays. Pure: no I/O, no clock.
 *
 * One fault at a time, so a majority of nodes is always up once the fault heals. The kinds are
 * dealt in rounds, each round a seeded shuffle of every enabled kind, so a run of at least
 * `kinds.length` faults sees each kind.
 */

/** The fault kinds: kill -9 and restart, SIGSTOP then SIGCONT, nats-server restart, kill -9 of a leader. */
export const FAULT_KINDS = ["kill", "pause", "natsrestart", "leaderkill"] as const
export type FaultKind = (typeof FAULT_KINDS)[number]

export const isFaultKind = (s: string): s is FaultKind => (FAULT_KINDS as readonly string[]).includes(s)

/** One planned fault. */
export interface PlannedFault {
  readonly kind: FaultKind
  /**
   * Quiet time before the fault: after the previous fault healed (a restart waits for the
   * node's ready line, which takes as long as it takes), or after the start of the workload.
   */
  readonly gapMs: number
  /** How long the fault lasts before it heals (the node or server is down or stopped). */
  readonly durationMs: number
  /**
   * The node (1-based) for `kill` and `pause`; for `leaderkill`, the node is the one leading
   * the most groups when the fault starts, and this is unused (0); 0 for `natsrestart`.
   */
  readonly node: number
}

export interface ScheduleOptions {
  readonly seed: number
  readonly nodes: number
  /** Length of the faulty part of the run. */
  readonly faultWindowMs: number
  readonly kinds?: ReadonlyArray<FaultKind>
  /** Quiet time between a fault's heal and the next fault (default 2–5 s). */
  readonly gapMs?: readonly [number, number]
  /** How long a fault lasts (default 1–3 s). */
  readonly durationMs?: readonly [number, number]
}

/** A seeded generator (mulberry32): the same seed gives the same numbers in [0, 1). */
export const seededRandom = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const between = (random: () => number, [lo, hi]: readonly [number, number]) =>
  Math.round(lo + random() * (hi - lo))

/**
 * The faults of a run, enough to fill `faultWindowMs` if every fault healed at once; the runner
 * stops at the end of the window (a real restart takes longer), so a run uses a prefix.
 */
export const planFaults = (o: ScheduleOptions): PlannedFault[] => {
  const kinds = o.kinds ?? FAULT_KINDS
  if (kinds.length === 0) return []
  if (o.nodes < 1) throw new RangeError(`a schedule needs at least one node, got ${o.nodes}`)
  const random = seededRandom(o.seed)
  const gap = o.gapMs ?? [2000, 5000]
  const duration = o.durationMs ?? [1000, 3000]
  const faults: PlannedFault[] = []
  let round: FaultKind[] = []
  let at = 0
  while (at < o.faultWindowMs) {
    if (round.length === 0) {
      round = [...kinds]
      for (let i = round.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1))
        ;[round[i], round[j]] = [round[j]!, round[i]!]
      }
    }
    const kind = round.shift()!
    const gapMs = between(random, gap)
    const durationMs = between(random, duration)
    const node = kind === "kill" || kind === "pause" ? 1 + Math.floor(random() * o.nodes) : 0
    faults.push({ kind, gapMs, durationMs, node })
    at += gapMs + durationMs
  }
  return faults
}
