/**
 * The call path's first attempt (CallPath.ts `firstAttempt`): taken in one step when the route
 * is known, it must keep the general path's contracts — an interrupted call gives its sequence
 * number back, and a retryable reply goes on under the retry policy with the same bytes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, Fiber } from "effect"
import { type RouterCore, type RouteSpec, route } from "../../src/client/CallPath.js"
import * as GroupBatcher from "../../src/client/GroupBatcher.js"
import * as RouterStats from "../../src/client/RouterStats.js"
import * as SessionPool from "../../src/client/SessionPool.js"
import * as ShardMapIndex from "../../src/meta/ShardMapIndex.js"
import { GroupId } from "../../src/raft/Ids.js"
import { Raw } from "../../src/runtime/entity/Cbor.js"
import * as Wire from "../../src/runtime/entity/Wire.js"
import { decodeBatch, encodeBatch } from "../../src/runtime/RequestBatch.js"
import { NotLeader } from "../../src/runtime/RuntimeErrors.js"
import type { BusService } from "../../src/transport/Bus.js"
import { clusterSubjects } from "../../src/transport/Subjects.js"
import { settle, waitingBus } from "./support/WaitingBus.js"

const G = GroupId(3)

/** A router core over `bus` whose shard map puts every slot of keyspace `kv` in group G. */
const coreOver = (bus: BusService, window: number): RouterCore => {
  const index = ShardMapIndex.fromShardMap({
    _tag: "ShardMap",
    version: 1,
    keyspaces: [
      {
        name: "kv",
        kind: "kv",
        replicationFactor: 3,
        createdAt: 0,
        shards: [{ group: G, start: 0, end: 16384 }],
      },
    ],
    groups: [],
  } as never)
  const stats = RouterStats.zero()
  return {
    bus,
    batcher: GroupBatcher.make(bus, stats),
    localGroups: undefined,
    subjects: clusterSubjects("c"),
    attemptTimeoutMs: 5_000,
    backoff: { baseMs: 1, maxMs: 2 },
    sessions: SessionPool.make(window),
    replicaReads: false,
    shardMap: {
      view: () => index,
      refreshFrom: () => Effect.succeed(index),
      refresh: () => Effect.succeed(index),
    },
    stats,
    keyspaceOf: (_kind, explicit) => explicit ?? "kv",
  }
}

const put = (n: number): RouteSpec => ({
  operation: "kv.Put",
  kind: "kv",
  keyspace: undefined,
  slot: 7,
  command: {
    kind: "kv",
    operation: "Put",
    type: "command",
    entityId: new TextEncoder().encode(`k${n}`),
    slot: 7,
    payload: new Raw(new Uint8Array([0xf6])),
    staleRead: false,
  },
  deadlineMs: 10_000,
})

/** The session stamp of a command's request bytes. */
const stampOf = (bytes: Uint8Array) => {
  const d = Wire.decodeRequest(bytes)
  if (Either.isLeft(d) || d.right.request.type !== "command") throw new Error("not a command request")
  const { session, seq, ackedBelow } = d.right.request
  return { session, seq, ackedBelow }
}

const OK = Wire.successReply(true)

describe("the call path's first attempt", () => {
  it.live("an interrupted call gives its sequence number back: the window stays open", () =>
    Effect.gen(function* () {
      const { bus, sent } = waitingBus()
      const core = coreOver(bus, 2)
      // The first call opens the session (general path), then sends its command.
      const a = yield* Effect.fork(route(core, put(1)))
      yield* settle
      expect(sent).toHaveLength(1)
      yield* Deferred.succeed(sent[0]!.answer, Wire.successReply(42))
      yield* settle
      expect(sent).toHaveLength(2)
      expect(stampOf(sent[1]!.data)).toEqual({ session: 42, seq: 1, ackedBelow: 1 })
      // The second goes by the first attempt's path and fills the window of 2.
      const b = yield* Effect.fork(route(core, put(2)))
      yield* settle
      expect(sent).toHaveLength(3)
      expect(stampOf(sent[2]!.data)).toEqual({ session: 42, seq: 2, ackedBelow: 1 })
      yield* Fiber.interrupt(a)
      yield* Fiber.interrupt(b)
      // Both numbers were given back: the next command goes at once, acknowledging both.
      const c = yield* Effect.fork(route(core, put(3)))
      yield* settle
      expect(sent).toHaveLength(4)
      expect(stampOf(sent[3]!.data)).toEqual({ session: 42, seq: 3, ackedBelow: 3 })
      yield* Deferred.succeed(sent[3]!.answer, OK)
      expect(yield* Fiber.join(c)).toEqual(OK)
    }),
  )

  it.live("a NotLeader answer to the first attempt is retried with the same bytes", () =>
    Effect.gen(function* () {
      const { bus, sent } = waitingBus()
      const core = coreOver(bus, 4)
      const open = yield* Effect.fork(route(core, put(1)))
      yield* settle
      yield* Deferred.succeed(sent[0]!.answer, Wire.successReply(7))
      yield* settle
      yield* Deferred.succeed(sent[1]!.answer, OK)
      yield* Fiber.join(open)
      const call = yield* Effect.fork(route(core, put(2)))
      yield* settle
      expect(sent).toHaveLength(3)
      yield* Deferred.succeed(sent[2]!.answer, Wire.runtimeErrorReply(new NotLeader({ groupId: G })))
      // The retry waits its backoff (1-2 ms) first.
      yield* Effect.sleep("30 millis")
      yield* settle
      expect(sent).toHaveLength(4)
      expect(sent[3]!.subject).toBe(sent[2]!.subject)
      expect(sent[3]!.data).toEqual(sent[2]!.data)
      expect(stampOf(sent[3]!.data)).toEqual({ session: 7, seq: 2, ackedBelow: 2 })
      yield* Deferred.succeed(sent[3]!.answer, OK)
      expect(yield* Fiber.join(call)).toEqual(OK)
      expect(core.stats.notLeader).toBe(1)
      expect(core.stats.retries).toBe(1)
    }),
  )

  it.live("hundreds of concurrent commands on one shard all go through a small window", () =>
    Effect.gen(function* () {
      // Answers every request on the next turn: a session open with id 5, anything else OK
      // (a batch with one OK per request).
      let requests = 0
      const bus: BusService = {
        maxPayload: () => 1024 * 1024,
        publish: () => Effect.void,
        subscribe: () => Effect.die("not used"),
        request: (subject, data) =>
          Effect.async<Uint8Array>((resume) => {
            requests++
            setImmediate(() => {
              if (subject.endsWith(".batch")) {
                const parts = decodeBatch(data) as Uint8Array[]
                resume(Effect.succeed(encodeBatch(parts.map(() => OK))))
                return
              }
              const d = Wire.decodeRequest(data)
              const opens = Either.isRight(d) && d.right.request.type === "openSession"
              resume(Effect.succeed(opens ? Wire.successReply(5) : OK))
            })
          }),
      }
      const core = coreOver(bus, 8)
      const calls = Array.from({ length: 300 }, (_, i) => route(core, { ...put(i), deadlineMs: 5_000 }))
      const replies = yield* Effect.all(calls, { concurrency: "unbounded" })
      for (const r of replies) expect([...r]).toEqual([...OK])
      expect(core.stats.attempts).toBe(301)
      expect(core.sessions?.live()).toBe(1)
      expect(requests).toBeGreaterThan(1)
    }),
  )
})
