/**
 * LeaderTasks: a kind's leader task runs on the groups this node leads, whichever way the node
 * was told its kinds: listed (`NodeConfig.kinds`) or only decided by `kindOf`. A node built with
 * `kindOf` alone once ran no task at all (its KV leases never expired; found by the KV
 * simulation, decision 0115).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option, Queue, Stream } from "effect"
import { GroupId } from "../../src/raft/Ids.js"
import type { LeadershipChange } from "../../src/runtime/LeaderSubscriptions.js"
import * as LeaderTasks from "../../src/runtime/LeaderTasks.js"
import type { GroupStatus } from "../../src/runtime/NodeStatus.js"
import type { LeaderContext, ShardKind } from "../../src/runtime/ShardKind.js"

const status = (groupId: number, isLeader: boolean, kind: string): GroupStatus =>
  ({
    groupId: GroupId(groupId),
    kind,
    isLeader,
    stopped: undefined,
  }) as unknown as GroupStatus

/** A kind whose task records the groups it started on. */
const taskKind = (name: string, started: number[]): ShardKind =>
  ({
    name,
    whileLeader: (ctx: LeaderContext) =>
      Effect.sync(() => {
        started.push(ctx.groupId)
      }).pipe(Effect.zipRight(Effect.never)),
  }) as unknown as ShardKind

const plainKind = (name: string): ShardKind => ({ name }) as unknown as ShardKind

const host = (groups: GroupStatus[]): LeaderTasks.LeaderTaskHost => ({
  led: Effect.succeed(groups.filter((g) => g.isLeader && g.stopped === undefined).map((g) => g.groupId)),
  leadership: Stream.never,
  localStateMachine: () => Option.none(),
  request: () => Effect.succeed(new Uint8Array(0)),
})

/** Runs the tasks until `started` has `count` groups (or a real-time second has passed). */
const runUntil = (
  h: LeaderTasks.LeaderTaskHost,
  kinds: LeaderTasks.KindResolver,
  started: number[],
  count: number,
) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.fork(LeaderTasks.run(h, kinds, () => 0, 5))
    for (let i = 0; i < 200 && started.length < count; i++) yield* Effect.sleep("5 millis")
    yield* Fiber.interrupt(fiber)
  })

describe("LeaderTasks", () => {
  it.live("runs a task on the led groups of a kind decided by kindOf alone", () =>
    Effect.gen(function* () {
      const started: number[] = []
      const kv = taskKind("kv", started)
      const kinds = LeaderTasks.resolver(undefined, () => kv, true)
      expect(kinds.anyTask).toBe(true)
      yield* runUntil(
        host([status(1, true, "kv"), status(2, false, "kv"), status(3, true, "kv")]),
        kinds,
        started,
        2,
      )
      expect([...started].sort()).toEqual([1, 3])
    }),
  )

  it.live("runs a listed kind's task only on that kind's groups", () =>
    Effect.gen(function* () {
      const started: number[] = []
      const kv = taskKind("kv", started)
      const other = plainKind("Counter")
      const kinds = LeaderTasks.resolver([kv, other], (g) => (g === 1 ? kv : other), false)
      yield* runUntil(host([status(1, true, "kv"), status(2, true, "Counter")]), kinds, started, 1)
      expect(started).toEqual([1])
    }),
  )

  it.live(
    "starts and stops a group's task on its leadership changes, without rescanning the led groups",
    () =>
      Effect.gen(function* () {
        const started: number[] = []
        const kv = taskKind("kv", started)
        const kinds = LeaderTasks.resolver([kv], () => kv, false)
        let scans = 0
        const changes = yield* Queue.unbounded<LeadershipChange>()
        const h: LeaderTasks.LeaderTaskHost = {
          ...host([]),
          led: Effect.sync(() => {
            scans++
            return []
          }),
          leadership: Stream.fromQueue(changes),
        }
        // The safety net every minute: only the changes can start the tasks here.
        const fiber = yield* Effect.fork(LeaderTasks.run(h, kinds, () => 0, 60_000))
        const change = (groupId: number, isLeader: boolean) =>
          Queue.offer(changes, { groupId: GroupId(groupId), isLeader, leaderNode: undefined, term: 1 })
        for (let g = 1; g <= 50; g++) yield* change(g, true)
        for (let i = 0; i < 200 && started.length < 50; i++) yield* Effect.sleep("5 millis")
        expect(started.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
        expect(scans).toBeLessThanOrEqual(1) // the safety net's first check at most
        yield* change(7, false)
        yield* change(7, true)
        for (let i = 0; i < 200 && started.length < 51; i++) yield* Effect.sleep("5 millis")
        expect(started.filter((g) => g === 7)).toEqual([7, 7])
        yield* Fiber.interrupt(fiber)
      }),
  )

  it("polls nothing when no kind can have a task", () => {
    const kinds = LeaderTasks.resolver([plainKind("Counter")], () => plainKind("Counter"), false)
    expect(kinds.anyTask).toBe(false)
  })

  it("treats a group whose kind cannot be told as one without a task", () => {
    const kinds = LeaderTasks.resolver(
      undefined,
      () => {
        throw new RangeError("NodeConfig needs `kinds` or `kindOf`")
      },
      true,
    )
    expect(kinds.kindOf(GroupId(1))).toBeUndefined()
  })
})
