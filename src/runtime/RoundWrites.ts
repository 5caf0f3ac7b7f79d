/**
 * The store writes of engine rounds. Each round the engine collects is persisted by its own
 * daemon fiber (`start`), so the next round is collected while the store works (it group-
 * commits concurrent writes, docs/decisions/0005); the loop then takes the finished writes, in
 * the order the store completed them, and completes them in the engine (`completeFinished`).
 */
import { Clock, Effect, Exit } from "effect"
import type { GroupId } from "../raft/Ids.js"
import type { LogStoreService } from "../storage/LogStore.js"
import type { Engine, Outbound, WriteRound } from "./Engine.js"
import type { RuntimeMetrics } from "./RuntimeMetrics.js"
import { describeCause } from "./Supervisor.js"
import type { WakeSignal } from "./WakeSignal.js"

/** How a write ended: the groups the store dropped as corrupt (with why), or why it all failed. */
type WriteOutcome = ReadonlyMap<GroupId, string> | string

export class RoundWrites {
  /** Writes that finished, in the order the store completed them, not yet completed. */
  private readonly finished: Array<{ readonly round: WriteRound; readonly failed: WriteOutcome }> = []
  private inFlight = 0

  constructor(
    private readonly store: LogStoreService,
    private readonly wake: WakeSignal,
    private readonly metrics: RuntimeMetrics,
  ) {}

  /** Whether a write is under way or finished and not yet completed. */
  pending(): boolean {
    return this.inFlight > 0 || this.finished.length > 0
  }

  /** Whether a finished write waits to be completed. */
  hasFinished(): boolean {
    return this.finished.length > 0
  }

  /** Starts persisting `round` (counted as in flight at once); the loop is woken when it ends. */
  start(round: WriteRound): Effect.Effect<void> {
    this.inFlight++
    return Effect.asVoid(Effect.forkDaemon(this.write(round)))
  }

  /**
   * Completes every finished write in the engine: failed groups stop, the rest finish. The
   * reason of the first write that failed as a whole (the store itself failed), if any.
   */
  completeFinished(engine: Engine, now: number, outbound: Outbound): string | undefined {
    let storeFailure: string | undefined
    for (const w of this.finished.splice(0)) {
      if (typeof w.failed === "string") {
        engine.fail(w.round, "all", w.failed)
        storeFailure ??= w.failed
      } else if (w.failed.size > 0)
        for (const [g, reason] of w.failed) engine.fail(w.round, new Set([g]), reason)
      engine.completeWrite(w.round, now, outbound)
    }
    return storeFailure
  }

  /**
   * Persists one round and reports its outcome, always exactly once: the loop counts on it to
   * finish. Run as a daemon, uninterruptible: a write under way finishes even while the node
   * closes (the store closes after the node), and a write started during the close is not lost
   * in a scope that is already closing.
   */
  private write(round: WriteRound): Effect.Effect<void> {
    return Effect.gen(this, function* () {
      const startedAt = yield* Clock.currentTimeMillis
      this.countWrite(round, startedAt)
      const exit = yield* Effect.exit(persistRound(this.store, round))
      const now = yield* Clock.currentTimeMillis
      const failed = Exit.isSuccess(exit) ? exit.value : `the write failed: ${describeCause(exit.cause)}`
      this.metrics.writeEnded(startedAt, now, typeof failed !== "string")
      this.finished.push({ round, failed })
      this.inFlight--
      this.wake.raise()
    }).pipe(Effect.uninterruptible)
  }

  /** Counts a write as it starts: its batch, its payload bytes, its fsync. */
  private countWrite(round: WriteRound, startedAt: number): void {
    const m = this.metrics
    m.writesInFlight.push(startedAt)
    m.writes++
    if (round.sync) m.fsyncs++
    m.writeBatchGroups.observe(round.updates.length)
    let bytes = 0
    for (const u of round.updates) {
      if (u.entries !== undefined) for (const e of u.entries) bytes += e.data.length
      if (u.snapshot !== undefined) bytes += u.snapshot.data.length
      if (u.savedSnapshot !== undefined) bytes += u.savedSnapshot.data.length
    }
    m.bytesWritten += bytes
  }
}

/**
 * Persists one round. A group whose data the store finds corrupt is dropped from the batch
 * (its replica stops) and the rest is written again; any other failure fails the round.
 */
export const persistRound = (store: LogStoreService, round: WriteRound): Effect.Effect<WriteOutcome> =>
  Effect.gen(function* () {
    const failed = new Map<GroupId, string>()
    let updates = round.updates
    let outcome: WriteOutcome = failed
    while (updates.length > 0) {
      const r = yield* Effect.either(store.write(updates, { sync: round.sync }))
      if (r._tag === "Right") break
      const e = r.left
      if ("groupId" in e && !failed.has(e.groupId as GroupId)) {
        const g = e.groupId as GroupId
        yield* Effect.logError(`group ${g} stopped: ${e.message}`)
        failed.set(g, e.message)
        updates = updates.filter((u) => u.groupId !== g)
        continue
      }
      yield* Effect.logError(`store write failed; the groups of this round stop: ${e.message}`)
      outcome = `${e._tag}: ${e.message}`
      break
    }
    return outcome
  })
