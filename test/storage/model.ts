/**
 * Model-based restart test: random sequences of hard-state saves, appends with conflicting
 * suffixes, installed and saved snapshots, compactions and group removals, applied both to a
 * `LogStore` and to src/raft's `MemoryStorage` (the model). The store is closed and reopened at
 * random points; after every reopen, and at the end, every group loaded from the store must be
 * exactly the model: hard state, snapshot (metadata and data), first and last index, floor term
 * and every entry.
 *
 * Commands are random integers that the interpreter turns into VALID operations for the state
 * reached so far, so every generated sequence is meaningful and shrinks well. About half the
 * calls are not awaited before the next one is made, so calls are planned on top of batches
 * still being written (group commit's pipelining) and must still apply in call order.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import fc from "fast-check"
import { MemoryStorage } from "../../src/raft/Storage.js"
import type { GroupUpdate, LogStoreService } from "../../src/storage/LogStore.js"
import { type BackendUnderTest, expectSameAsModel, type StoreHarness, withStore } from "./harness.js"
import { type Command, G, type GroupModel, plan } from "./workload.js"

const GROUPS = 4

const command: fc.Arbitrary<Command> = fc.record({
  op: fc.integer({ min: 0, max: 99 }),
  groups: fc.integer({ min: 1, max: (1 << GROUPS) - 1 }),
  a: fc.nat(1000),
  b: fc.nat(1000),
  c: fc.nat(1000),
})

const compareAll = (store: LogStoreService, models: GroupModel[]) =>
  Effect.gen(function* () {
    const stored = yield* store.groups
    const present = models.flatMap((m, k) => (m.present ? [G(k + 1)] : []))
    expect(stored).toEqual(present)
    for (let k = 0; k < models.length; k++) {
      const loaded = yield* store.load(G(k + 1))
      expectSameAsModel(loaded, models[k]!.storage)
    }
  })

/** Applies one command (not a reopen) to the store and the models. */
/**
 * Turns a command (not a reopen) into the store call that mirrors what it did to the models
 * (which are updated now, in command order).
 */
const apply = (store: LogStoreService, models: GroupModel[], cmd: Command): Effect.Effect<void, unknown> => {
  if (cmd.op >= 94) {
    const k = cmd.a % GROUPS
    models[k] = { storage: new MemoryStorage(), term: models[k]!.term, present: false }
    return store.removeGroup(G(k + 1))
  }
  const updates: GroupUpdate[] = []
  for (let k = 0; k < GROUPS; k++) {
    if ((cmd.groups & (1 << k)) === 0) continue
    const u = plan(k + 1, models[k]!, cmd)
    if (u !== undefined) {
      updates.push(u)
      models[k]!.present = true
    }
  }
  return updates.length > 0 ? store.write(updates) : Effect.void
}

/**
 * Runs a segment's commands in order. Some (`b` odd) are not awaited: they are forked, so
 * several calls are in the store at once and later ones are planned on top of batches still
 * being written; everything forked is joined before the next awaited command.
 */
const runSegment = (store: LogStoreService, models: GroupModel[], segment: ReadonlyArray<Command>) =>
  Effect.gen(function* () {
    let forked: Array<Fiber.RuntimeFiber<void, unknown>> = []
    const joinAll = Effect.suspend(() => {
      const fibers = forked
      forked = []
      return Effect.forEach(fibers, Fiber.join, { discard: true })
    })
    for (const cmd of segment) {
      const call = apply(store, models, cmd)
      if (cmd.b % 2 === 1) forked.push(yield* Effect.fork(call))
      else {
        yield* joinAll
        yield* call
      }
    }
    yield* joinAll
  })

/** Runs one command sequence on a fresh harness: commands with `op >= 96` close and reopen the store. */
const runSequence = (h: StoreHarness, cmds: ReadonlyArray<Command>) =>
  Effect.gen(function* () {
    const models: GroupModel[] = Array.from({ length: GROUPS }, () => ({
      storage: new MemoryStorage(),
      term: 1,
      present: false,
    }))
    const segments: Command[][] = [[]]
    for (const cmd of cmds) {
      if (cmd.op >= 96) segments.push([])
      else segments[segments.length - 1]!.push(cmd)
    }
    for (const segment of segments)
      yield* withStore(h, ({ store }) =>
        Effect.gen(function* () {
          yield* compareAll(store, models)
          yield* runSegment(store, models, segment)
        }),
      )
    yield* withStore(h, ({ store }) => compareAll(store, models))
  })

/** Defines the model-based restart test for one back end. */
export const modelRestartSuite = (b: BackendUnderTest, options: { runs: number; commands: number }): void => {
  describe(`LogStore restart model: ${b.name}`, () => {
    it.live(
      "after any sequence of writes and reopens, every group is exactly what MemoryStorage holds",
      () =>
        Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(
              fc.array(command, { minLength: 1, maxLength: options.commands }),
              async (cmds) => {
                const h = b.harness()
                try {
                  await Effect.runPromise(runSequence(h, cmds))
                } finally {
                  h.dispose()
                }
              },
            ),
            { numRuns: options.runs },
          ),
        ),
      120_000,
    )
  })
}
