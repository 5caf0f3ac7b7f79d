/**
 * The simulator's network: decides, with the run's seeded generator, whether each message is
 * delivered, when, and how many times. Faults are switchable at any moment: partitions,
 * per-link loss, duplication and delay (wide delay ranges reorder messages). Replicas are named by
 * their plain numeric ids.
 */

export interface LinkFaults {
  /** Probability that a message is lost. */
  readonly drop: number
  /** Probability that a message is delivered twice. */
  readonly duplicate: number
  /** Delivery latency range in virtual time units (a wide range reorders). */
  readonly latency: readonly [number, number]
}

export const reliableLink: LinkFaults = { drop: 0, duplicate: 0, latency: [1, 10] }
export const unreliableLink: LinkFaults = { drop: 0.1, duplicate: 0.05, latency: [1, 60] }

export interface RandomSource {
  /** Uniform in [0, 1). */
  float(): number
  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number
}

export class SimNetwork {
  private defaults: LinkFaults = reliableLink
  private readonly links = new Map<string, LinkFaults>()
  /** Partition group of each replica; replicas in different groups cannot talk. */
  private readonly side = new Map<number, number>()
  readonly stats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0 }

  constructor(private readonly rand: RandomSource) {}

  /** Faults for every link without its own setting. */
  setDefaults(f: LinkFaults): void {
    this.defaults = f
  }

  /** Faults for the directed link from → to. */
  setLink(from: number, to: number, f: LinkFaults): void {
    this.links.set(`${from}>${to}`, f)
  }

  clearLinks(): void {
    this.links.clear()
  }

  /** Splits replicas into groups that cannot reach each other; unlisted replicas form group 0. */
  partition(groups: readonly (readonly number[])[]): void {
    this.side.clear()
    groups.forEach((g, i) => {
      for (const id of g) this.side.set(id, i + 1)
    })
  }

  /** Cuts one replica off from every other. */
  isolate(id: number): void {
    this.side.set(id, -id)
  }

  /** Puts one replica back with the replicas no partition group lists (undoes `isolate`). */
  rejoin(id: number): void {
    this.side.delete(id)
  }

  /** Whether any partition or isolation is in force. */
  isPartitioned(): boolean {
    return this.side.size > 0
  }

  heal(): void {
    this.side.clear()
  }

  canReach(from: number, to: number): boolean {
    return (this.side.get(from) ?? 0) === (this.side.get(to) ?? 0)
  }

  /** The latencies at which a message sent now arrives (empty: lost). */
  deliveries(from: number, to: number): number[] {
    this.stats.sent++
    if (!this.canReach(from, to)) {
      this.stats.dropped++
      return []
    }
    const f = this.links.get(`${from}>${to}`) ?? this.defaults
    if (f.drop > 0 && this.rand.float() < f.drop) {
      this.stats.dropped++
      return []
    }
    const out = [this.rand.int(f.latency[0], f.latency[1])]
    if (f.duplicate > 0 && this.rand.float() < f.duplicate) {
      this.stats.duplicated++
      out.push(this.rand.int(f.latency[0], f.latency[1]))
    }
    return out
  }
}
