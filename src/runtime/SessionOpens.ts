/**
 * The node's admission of session opens (issue 11, G): opening an exactly-once session is a
 * replicated command that can evict another session (Sessions.ts), so a node lets each client
 * open at most `perClient` sessions per second in each group (with a burst of twice that; a
 * client needs one session per shard, a process of many clients sharing one connection a few)
 * and each group at most `perGroup` per second; an open beyond either is answered `Overloaded`
 * before it reaches the log, and the client backs off and retries (docs/decisions/0060).
 *
 * A client is the reply subject's prefix (everything before its last token: a NATS connection's
 * inbox, `_INBOX.<id>`). A sender can forge inbox names, which the per-group bound covers; the
 * table of clients is bounded (least recently seen forgotten first).
 */

/** A token bucket: `rate` tokens per second, at most `burst` held. */
class Bucket {
  private tokens: number
  private at: number
  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst
    this.at = now
  }
  take(now: number): boolean {
    if (now > this.at) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.rate) / 1000)
      this.at = now
    }
    if (this.tokens < 1) return false
    this.tokens--
    return true
  }
}

/** The limits of session opens at one node. */
export interface SessionOpenLimits {
  /** Opens per second per client in one group (burst: twice as many). */
  readonly perClient: number
  /** Opens per second per group (burst: twice as many). */
  readonly perGroup: number
  /** (group, client) pairs remembered at most. */
  readonly maxClients: number
}

/** Defaults: 50 opens/s per client and group, 500/s per group, 100,000 pairs remembered. */
export const DEFAULT_SESSION_OPEN_LIMITS: SessionOpenLimits = {
  perClient: 50,
  perGroup: 500,
  maxClients: 100_000,
}

/** The client a reply subject belongs to: its prefix before the last token. */
export const clientOfReply = (reply: string | undefined): string => {
  if (reply === undefined) return ""
  const dot = reply.lastIndexOf(".")
  return dot < 0 ? reply : reply.slice(0, dot)
}

export class SessionOpenLimiter {
  /** Keyed by group and client. */
  private readonly clients = new Map<string, Bucket>()
  private readonly groups = new Map<number, Bucket>()
  /** Opens refused since the node started. */
  refused = 0

  constructor(readonly limits: SessionOpenLimits = DEFAULT_SESSION_OPEN_LIMITS) {
    if (!(limits.perClient > 0 && limits.perGroup > 0 && limits.maxClients >= 1))
      throw new RangeError("session open limits must be positive")
  }

  /** Whether `client` may open a session in `groupId` at `now` (ms); counts the open if so. */
  admit(groupId: number, client: string, now: number): boolean {
    const c = bucketOf(
      this.clients,
      `${groupId} ${client}`,
      this.limits.perClient,
      this.limits.maxClients,
      now,
    )
    const g = bucketOf(this.groups, groupId, this.limits.perGroup, MAX_GROUPS, now)
    // The client's bucket first: a client over its own limit does not drain the group's.
    if (c.take(now) && g.take(now)) return true
    this.refused++
    return false
  }
}

/** Groups remembered at most (a node hosts far fewer). */
const MAX_GROUPS = 1_000_000

/** The bucket of `key`, made if new; the map is kept in least-recently-seen order, bounded. */
const bucketOf = <K>(map: Map<K, Bucket>, key: K, rate: number, max: number, now: number): Bucket => {
  let b = map.get(key)
  if (b === undefined) {
    b = new Bucket(rate, rate * 2, now)
    if (map.size >= max) {
      const oldest = map.keys().next()
      if (!oldest.done) map.delete(oldest.value)
    }
  } else {
    map.delete(key)
  }
  map.set(key, b)
  return b
}
