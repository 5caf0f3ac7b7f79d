/**
 * The router's exactly-once sessions (docs/entities.md, "Exactly once"; ClientSession.ts): one
 * per shard and entity kind, opened on first use — once, for every call waiting for it — and
 * replaced when the shard no longer knows it (the call path kills it on `SessionExpired`).
 */
import { Deferred, Effect, Either } from "effect"
import type { GroupId } from "../raft/Ids.js"
import type { CallError } from "./ClientErrors.js"
import { ClientSession, type Ticket } from "./ClientSession.js"
import * as Retry from "./Retry.js"

/** See the module comment. */
export interface SessionPool {
  /** Commands in flight per session (at least 1). */
  readonly window: number
  /**
   * The live session of `kind` in `group`, opened when there is none by `open` (which brings
   * back the id the shard assigned). Concurrent
   * callers share one opening; when it fails, a waiter tries again (opening itself) until
   * `deadlineAt` (clock milliseconds), then fails with the opening's error.
   */
  readonly sessionOf: (
    group: GroupId,
    kind: string,
    deadlineAt: number,
    open: Effect.Effect<number, CallError>,
  ) => Effect.Effect<ClientSession, CallError>
  /** The live session of `kind` in `group` held now, if any (the call path's hot path). */
  readonly current: (group: GroupId, kind: string) => ClientSession | undefined
  /** Sessions held now that are not known dead. */
  readonly live: () => number
}

/** A pool holding no session yet. */
export const make = (window: number): SessionPool => {
  const sessions = new Map<string, ClientSession>()
  const opening = new Map<string, Deferred.Deferred<ClientSession, CallError>>()

  const openOnce = (key: string, open: Effect.Effect<number, CallError>) =>
    Effect.gen(function* () {
      const deferred = yield* Deferred.make<ClientSession, CallError>()
      opening.set(key, deferred)
      const opened = yield* Effect.either(Effect.map(open, (id) => new ClientSession(id, window)))
      opening.delete(key)
      if (Either.isRight(opened)) sessions.set(key, opened.right)
      yield* Deferred.complete(deferred, opened)
      return yield* opened
    })

  const sessionOf: SessionPool["sessionOf"] = (group, kind, deadlineAt, open) =>
    Effect.gen(function* () {
      const key = `${group}/${kind}`
      for (;;) {
        const existing = sessions.get(key)
        if (existing !== undefined && !existing.dead) return existing
        const pending = opening.get(key)
        if (pending === undefined) return yield* openOnce(key, open)
        const r = yield* Effect.either(Deferred.await(pending))
        if (Either.isRight(r)) return r.right
        if ((yield* Retry.remaining(deadlineAt)) <= 0) return yield* Effect.fail(r.left)
      }
    })

  return {
    current: (group, kind) => {
      const session = sessions.get(`${group}/${kind}`)
      return session === undefined || session.dead ? undefined : session
    },
    live: () => {
      let n = 0
      for (const session of sessions.values()) if (!session.dead) n++
      return n
    },
    window,
    sessionOf,
  }
}

/**
 * Takes a sequence number of `session`, waiting for room in its window until `deadlineAt`;
 * undefined when the deadline passed first or the session died (its shard forgot it).
 */
export const take = (session: ClientSession, deadlineAt: number): Effect.Effect<Ticket | undefined> =>
  Effect.gen(function* () {
    for (;;) {
      if (session.dead) return undefined
      const ticket = session.tryTake()
      if (ticket !== undefined) return ticket
      const remaining = yield* Retry.remaining(deadlineAt)
      if (remaining <= 0) return undefined
      yield* Effect.async<void>((resume) => {
        let waiting = true
        session.onRoom(() => {
          if (!waiting) return false
          waiting = false
          resume(Effect.void)
          return true
        })
        return Effect.sync(() => {
          waiting = false
        })
      }).pipe(Effect.timeoutOption(remaining))
    }
  })
