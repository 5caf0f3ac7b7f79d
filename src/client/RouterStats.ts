/** The router's counters (`Router.stats`), and the mutable copy its modules count in. */

/** Counters since the router started (for tests, `bench` and `status`). */
export interface RouterStats {
  /** Calls made (each counts once however many attempts it took). */
  readonly calls: number
  /** Requests sent to group subjects (alone or in batches). */
  readonly attempts: number
  /** Requests served by a replica this process leads, without the bus (`LocalGroups`). */
  readonly localRequests: number
  /** Bus messages on group batch subjects (GroupBatcher.ts). */
  readonly batches: number
  /** Requests those batch messages carried. */
  readonly batchedRequests: number
  /** Waits before a retry. */
  readonly retries: number
  readonly noResponders: number
  readonly notLeader: number
  readonly wrongShard: number
  readonly overloaded: number
  /** Requests that went unanswered within `attemptTimeout`. */
  readonly requestTimeouts: number
  readonly sessionsOpened: number
  readonly sessionsExpired: number
  /** Stale reads answered by a replica through its node's admin endpoint. */
  readonly replicaReads: number
  /** Requests to the metadata group for the shard map. */
  readonly mapFetches: number
  /** The cached shard map's version. */
  readonly mapVersion: number
}

/** The counters as the router's modules update them. */
export type MutableRouterStats = { -readonly [K in keyof RouterStats]: RouterStats[K] }

/** Every counter at 0. */
export const zero = (): MutableRouterStats => ({
  calls: 0,
  attempts: 0,
  localRequests: 0,
  batches: 0,
  batchedRequests: 0,
  retries: 0,
  noResponders: 0,
  notLeader: 0,
  wrongShard: 0,
  overloaded: 0,
  requestTimeouts: 0,
  sessionsOpened: 0,
  sessionsExpired: 0,
  replicaReads: 0,
  mapFetches: 0,
  mapVersion: 0,
})
