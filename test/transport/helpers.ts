/**
 * Small helpers shared by the transport tests: polling until a condition holds (real clock),
 * capturing log lines, and building envelopes.
 */
import { Duration, Effect, Logger } from "effect"
import type { GroupId, NodeId } from "../../src/raft/Ids.js"
import {
  type Message,
  MessageType,
  newMessage,
  type ReplicaId,
  type SnapshotChunk,
} from "../../src/raft/Types.js"
import type { Envelope } from "../../src/transport/Frame.js"

/**
 * Re-runs `effect` every 10 ms (real clock) until `done` holds, then returns its value; dies
 * with `what` after `timeout`.
 */
export const eventually = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  done: (a: A) => boolean,
  what: string,
  timeout: Duration.DurationInput = "10 seconds",
): Effect.Effect<A, E, R> =>
  Effect.gen(function* () {
    const deadline = Date.now() + Duration.toMillis(Duration.decode(timeout))
    for (;;) {
      const a = yield* effect
      if (done(a)) return a
      if (Date.now() > deadline)
        return yield* Effect.dieMessage(`timed out waiting for ${what}: last ${JSON.stringify(a)}`)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
    }
  })

/** Runs `effect` with a logger that records every line into `lines`. */
export const captureLogs =
  (lines: string[]) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.provide(
      effect,
      Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ message }) => {
          lines.push(Array.isArray(message) ? message.map(String).join(" ") : String(message))
        }),
      ),
    )

/** The replica of generation 0 on `node`. */
export const replica = (node: NodeId): ReplicaId => node as number as ReplicaId

/** A heartbeat from `from` to `to` in `group` carrying `commit` (tests use it as a sequence number). */
export const hb = (from: NodeId, to: NodeId, group: number, commit: number, term = 1): Envelope => ({
  groupId: group as GroupId,
  message: newMessage({ type: MessageType.Heartbeat, from: replica(from), to: replica(to), term, commit }),
})

/** A MsgApp with one entry of `size` bytes. */
export const app = (from: NodeId, to: NodeId, group: number, size: number): Envelope => ({
  groupId: group as GroupId,
  message: newMessage({
    type: MessageType.App,
    from: replica(from),
    to: replica(to),
    term: 2,
    logTerm: 2,
    index: 10,
    commit: 9,
    entries: [{ term: 2, index: 11, type: 0, data: new Uint8Array(size).fill(7) }],
  }),
})

/** A MsgSnap carrying one chunk of `size` bytes at `offset`. */
export const snap = (from: NodeId, to: NodeId, group: number, offset: number, size: number): Envelope => {
  const chunk: SnapshotChunk = {
    metadata: {
      index: 100,
      term: 3,
      confState: {
        voters: [replica(from), replica(to)],
        learners: [],
        votersOutgoing: [],
        learnersNext: [],
        autoLeave: false,
      },
    },
    offset,
    totalBytes: offset + size + 10,
    data: new Uint8Array(size).fill(offset & 0xff),
  }
  const message: Message = newMessage({
    type: MessageType.Snap,
    from: replica(from),
    to: replica(to),
    term: 3,
    snapshot: chunk,
  })
  return { groupId: group as GroupId, message }
}
