/**
 * The simulator's scheduler: a binary heap of events ordered by virtual time, then by the
 * order they were scheduled. Nothing in it reads a clock; with the same seed and inputs a
 * simulation replays event for event.
 */
export interface ScheduledEvent<E> {
  readonly at: number
  readonly seq: number
  readonly event: E
}

export class EventQueue<E> {
  private heap: ScheduledEvent<E>[] = []
  private seq = 0

  get size(): number {
    return this.heap.length
  }

  push(at: number, event: E): void {
    const item = { at, seq: this.seq++, event }
    const h = this.heap
    h.push(item)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!before(h[i]!, h[p]!)) break
      ;[h[i], h[p]] = [h[p]!, h[i]!]
      i = p
    }
  }

  pop(): ScheduledEvent<E> | undefined {
    const h = this.heap
    if (h.length === 0) return undefined
    const top = h[0]!
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && before(h[l]!, h[m]!)) m = l
        if (r < h.length && before(h[r]!, h[m]!)) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m]!, h[i]!]
        i = m
      }
    }
    return top
  }

  peekTime(): number | undefined {
    return this.heap[0]?.at
  }

  /** The earliest event, left in place. */
  peek(): ScheduledEvent<E> | undefined {
    return this.heap[0]
  }

  /** Removes every event for which `drop` is true. */
  removeWhere(drop: (e: E) => boolean): void {
    const kept = this.heap.filter((s) => !drop(s.event))
    this.heap = []
    for (const s of kept.sort((a, b) => (before(a, b) ? -1 : 1))) this.heap.push(s)
  }
}

const before = <E>(a: ScheduledEvent<E>, b: ScheduledEvent<E>) =>
  a.at < b.at || (a.at === b.at && a.seq < b.seq)
