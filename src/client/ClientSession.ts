/**
 * The client's side of one exactly-once session in one shard (docs/entities.md, "Exactly
 * once"): which sequence numbers are taken, which are still waiting for their reply, and the
 * acknowledgement floor a new command carries.
 *
 * - Sequence numbers start at 1 and are never reused, even when a call gives up.
 * - A command's `ackedBelow` is the lowest sequence number still unfinished (its own included):
 *   every reply below it has arrived or been abandoned, so the shard may forget them.
 * - THE WINDOW: a new number `s` is handed out only while `s - ackedBelow < window`. The shard
 *   keeps at most the replies in `[ackedBelow, s)`, so a window below the shard's `maxPending`
 *   (64 by default) never meets `TooManyPending`, even when one slow command holds the floor.
 * - A call that gives up (deadline, interruption) still `finish`es its number: it will never
 *   resend those bytes, so its reply is no longer needed.
 * - WAITING FOR ROOM: callers that find the window full wait in arrival order; a finished number
 *   wakes as many of them as there is room (not all of them: with hundreds waiting on one
 *   session, waking all on every reply made the wait quadratic, decision 0134).
 */

/** What a command is stamped with. */
export interface Ticket {
  readonly seq: number
  readonly ackedBelow: number
}

/** One session of this client in one shard. */
export class ClientSession {
  /** Set when the shard answered `SessionExpired`: the next command opens a new session. */
  dead = false
  private next = 1
  private readonly unfinished = new Set<number>()
  /** Callers waiting for room, oldest first; each says whether it was still waiting. */
  private waiters: Array<() => boolean> = []

  constructor(
    /** The id the shard assigned. */
    readonly id: number,
    /** See the module comment; at least 1. */
    readonly window: number,
  ) {}

  /** The lowest unfinished sequence number, or the next one when none is unfinished. */
  floor(): number {
    let min = this.next
    for (const s of this.unfinished) if (s < min) min = s
    return min
  }

  /** Takes the next sequence number, or `undefined` when the window is full. */
  tryTake(): Ticket | undefined {
    const seq = this.next
    const ackedBelow = this.floor()
    if (seq - ackedBelow >= this.window) return undefined
    this.next++
    this.unfinished.add(seq)
    return { seq, ackedBelow }
  }

  /** The reply of `seq` arrived, or its call gave up. Wakes as many waiters as there is room. */
  finish(seq: number): void {
    if (!this.unfinished.delete(seq)) return
    let room = this.room()
    while (room > 0 && this.waiters.length > 0) if (this.waiters.shift()!()) room--
  }

  /** Marks the session expired and wakes every waiter (they open a new session). */
  kill(): void {
    this.dead = true
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  /**
   * Calls `resume` once there is room for a number or the session died: at once if so now,
   * else when its turn comes. `resume` returns false when its caller no longer waits (timed
   * out, interrupted): the room goes to the next waiter.
   */
  onRoom(resume: () => boolean): void {
    if (this.dead || this.room() > 0) resume()
    else this.waiters.push(resume)
  }

  /** Callers waiting for room: a new command takes its turn after them. */
  get waiting(): number {
    return this.waiters.length
  }

  /** Numbers taken and not finished. */
  get inFlight(): number {
    return this.unfinished.size
  }

  /** Numbers that may be taken now. */
  private room(): number {
    return this.window - (this.next - this.floor())
  }
}
