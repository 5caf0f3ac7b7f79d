/**
 * Client sessions of one shard: the exactly-once machinery of the Raft dissertation, §6.3.
 *
 * A client opens a session (an `OpenSession` command) and numbers its commands 1, 2, 3, ...
 * in it; each command also says `ackedBelow`: every reply below that number has reached the
 * client. The shard keeps, per session, the reply of every applied command at or above the
 * acknowledged floor. A retried command (same session, same seq) gets the cached reply and IS
 * NOT APPLIED AGAIN; a late duplicate below the floor is refused (`StaleSequence`). A command
 * that is refused, or answered with an `EntityError`, leaves its session untouched: it was
 * not applied, and a retry is decided afresh.
 *
 * Session ids are assigned by the shard: `max(log index of the OpenSession, last id + 1)`, so
 * an id is never reused in the life of the shard, and a stale retry of an `OpenSession`
 * opens a fresh session nobody uses (it expires) instead of reviving an old one.
 *
 * EXPIRY IS DETERMINISTIC, from the log alone: (a) at most `maxSessions` sessions; when another
 * opens, the least recently opened session that NEVER COMPLETED A COMMAND is dropped, and only
 * when every other session has completed one, the least recently used (issue 11, finding 7: a flood
 * of opened-and-abandoned sessions used to evict an established client's session; now it only
 * evicts its own kind, see docs/decisions/0060); (b) a session unused for `ttlMs` of the shard
 * clock (the latest proposer time stamped in a request, never a clock read in apply) is
 * dropped. A command in an unknown session gets `SessionExpired` and is not applied.
 *
 * A session has completed a command when it holds a cached reply or its floor is above 0
 * (replies are only dropped below an acknowledged floor), so the snapshot format needs no flag.
 */
import type * as Cbor from "./Cbor.js"
import { type EntityError, SessionExpired, StaleSequence, TooManyPending } from "./EntityError.js"

/** The limits of a session table. EVERY REPLICA OF A SHARD MUST USE THE SAME VALUES. */
export interface SessionLimits {
  /** Most sessions kept; opening one more drops the least recently used. */
  readonly maxSessions: number
  /** A session idle this long on the shard clock expires; 0 disables time expiry. */
  readonly ttlMs: number
  /** Most unacknowledged replies a session may hold. */
  readonly maxPending: number
}

/** Defaults: 10,000 sessions, one hour, 64 pending replies. */
export const defaultLimits: SessionLimits = { maxSessions: 10_000, ttlMs: 3_600_000, maxPending: 64 }

interface Session {
  readonly id: number
  /** Shard clock at the last use. */
  lastActive: number
  /** Every seq below this has been acknowledged by the client. */
  floor: number
  /** Replies of applied commands with seq >= floor. */
  readonly replies: Map<number, Uint8Array>
}

/** What to do with a command in a session. */
export type Admission =
  | { readonly _tag: "Apply" }
  | { readonly _tag: "Duplicate"; readonly reply: Uint8Array }
  | { readonly _tag: "Refuse"; readonly error: EntityError }

const APPLY: Admission = { _tag: "Apply" }

const hasCompleted = (s: Session): boolean => s.floor > 0 || s.replies.size > 0

/** The session table. Iteration order of the map is least recently used first. */
export class SessionTable {
  private readonly sessions = new Map<number, Session>()
  /** Sessions that never completed a command, least recently opened first: evicted first. */
  private readonly fresh = new Set<number>()
  private lastId = 0

  constructor(readonly limits: SessionLimits) {}

  /** Number of live sessions. */
  get size(): number {
    return this.sessions.size
  }

  /** Whether session `id` is live. */
  has(id: number): boolean {
    return this.sessions.has(id)
  }

  /** Opens a session by the OpenSession command at log `index`; returns its id. */
  open(index: number, clock: number): number {
    const id = Math.max(index, this.lastId + 1)
    this.lastId = id
    this.sessions.set(id, { id, lastActive: clock, floor: 0, replies: new Map() })
    this.fresh.add(id)
    while (this.sessions.size > this.limits.maxSessions) {
      // The oldest session that never completed a command, unless that is the one just opened
      // (a new client must get a session): then the least recently used one.
      const oldestFresh = this.fresh.values().next()
      const victim = !oldestFresh.done && oldestFresh.value !== id ? oldestFresh : this.sessions.keys().next()
      if (victim.done) break
      this.delete(victim.value)
    }
    return id
  }

  private delete(id: number): boolean {
    this.fresh.delete(id)
    return this.sessions.delete(id)
  }

  /** Closes a session; returns whether it was live. */
  close(id: number): boolean {
    return this.delete(id)
  }

  /** Number of live sessions that never completed a command. */
  get freshCount(): number {
    return this.fresh.size
  }

  /** Drops sessions idle longer than the TTL at shard clock `clock`. */
  expire(clock: number): void {
    if (this.limits.ttlMs <= 0) return
    for (const session of this.sessions.values()) {
      if (session.lastActive + this.limits.ttlMs >= clock) break
      this.delete(session.id)
    }
  }

  /**
   * Decides, WITHOUT CHANGING ANYTHING, what to do with command `seq` of session `id` carrying
   * acknowledgement `ackedBelow`: apply it, answer it from the cache, or refuse it. The
   * acknowledgement counts already (a cached reply below it is gone, and frees its room). A
   * refused or duplicate command MUST NOT be applied.
   */
  admit(id: number, seq: number, ackedBelow: number): Admission {
    const session = this.sessions.get(id)
    if (session === undefined) return { _tag: "Refuse", error: new SessionExpired({ session: id }) }
    const floor = Math.max(session.floor, ackedBelow)
    if (seq < floor) return { _tag: "Refuse", error: new StaleSequence({ session: id, seq, floor }) }
    const cached = session.replies.get(seq)
    if (cached !== undefined) return { _tag: "Duplicate", reply: cached }
    let pending = 0
    for (const s of session.replies.keys()) if (s >= floor) pending++
    if (pending >= this.limits.maxPending)
      return { _tag: "Refuse", error: new TooManyPending({ session: id, limit: this.limits.maxPending }) }
    return APPLY
  }

  /**
   * Settles an admitted command: records the acknowledgement (dropping the replies below it)
   * and the use at shard clock `clock`, and caches `reply` for `seq` when the command was
   * applied. Call only after `admit` said `Apply` (with the reply) or `Duplicate` (without).
   */
  settle(id: number, seq: number, ackedBelow: number, clock: number, reply?: Uint8Array): void {
    const session = this.sessions.get(id)
    if (session === undefined) return
    if (ackedBelow > session.floor) {
      session.floor = ackedBelow
      for (const s of session.replies.keys()) if (s < ackedBelow) session.replies.delete(s)
    }
    if (reply !== undefined) session.replies.set(seq, reply)
    if (hasCompleted(session)) this.fresh.delete(id)
    session.lastActive = clock
    this.sessions.delete(id)
    this.sessions.set(id, session)
  }

  /** The table as a CBOR value: `[lastId, [[id, lastActive, floor, [[seq, reply], ...]], ...]]`. */
  toCbor(): Cbor.CborValue {
    const sessions: Cbor.CborValue[] = []
    for (const s of this.sessions.values()) {
      const replies = [...s.replies.entries()].sort((a, b) => a[0] - b[0])
      sessions.push([s.id, s.lastActive, s.floor, replies])
    }
    return [this.lastId, sessions]
  }

  /** Rebuilds a table from `toCbor`'s value; throws an Error naming the first defect found. */
  static fromCbor(value: Cbor.CborValue, limits: SessionLimits): SessionTable {
    const bad = (why: string): never => {
      throw new Error(`session table: ${why}`)
    }
    const isUint = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0
    if (!Array.isArray(value) || value.length !== 2) return bad("not a [lastId, sessions] pair")
    const [lastId, sessions] = value as ReadonlyArray<Cbor.CborValue>
    if (!isUint(lastId)) return bad("lastId is not a non-negative integer")
    if (!Array.isArray(sessions)) return bad("sessions is not an array")
    const table = new SessionTable(limits)
    table.lastId = lastId
    let previousActive = 0
    for (const entry of sessions as ReadonlyArray<Cbor.CborValue>) {
      if (!Array.isArray(entry) || entry.length !== 4) return bad("a session is not a 4-element array")
      const [id, lastActive, floor, replies] = entry as ReadonlyArray<Cbor.CborValue>
      if (!isUint(id) || id === 0 || id > lastId) return bad(`session id ${String(id)} is out of range`)
      if (table.sessions.has(id)) return bad(`session ${id} appears twice`)
      if (!isUint(lastActive) || lastActive < previousActive)
        return bad(`session ${id}: lastActive is not a non-decreasing integer`)
      previousActive = lastActive
      if (!isUint(floor)) return bad(`session ${id}: floor is not a non-negative integer`)
      if (!Array.isArray(replies)) return bad(`session ${id}: replies is not an array`)
      const map = new Map<number, Uint8Array>()
      let previousSeq = -1
      for (const r of replies as ReadonlyArray<Cbor.CborValue>) {
        if (!Array.isArray(r) || r.length !== 2)
          return bad(`session ${id}: a reply is not a [seq, bytes] pair`)
        const [seq, bytes] = r as ReadonlyArray<Cbor.CborValue>
        if (!isUint(seq) || seq < floor || seq <= previousSeq)
          return bad(`session ${id}: reply seqs must ascend from the floor`)
        if (!(bytes instanceof Uint8Array)) return bad(`session ${id}: a reply is not a byte string`)
        previousSeq = seq
        map.set(seq, bytes)
      }
      const session: Session = { id, lastActive, floor, replies: map }
      table.sessions.set(id, session)
      if (!hasCompleted(session)) table.fresh.add(id)
    }
    return table
  }
}
