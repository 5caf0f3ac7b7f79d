/**
 * Model-based restart test: random sequences of hard-state saves, appends with conflicting
 * suffixes, installed and saved snapshots, compactions and group removals, applied both to a
 * `LogStore` and to src/raft's `MemoryStorage` (the model). The store is closed and reopened at
 * random points; after every reopen, and at the end, every group loaded from the store must be
 * exactly the model: hard state, snapshot (metadata and data), first and last index, floor term
 * and every entry.
 *
 * Commands are random integers that the interpreter turns into VALID operations for the state
 * reached so far, so every generated sequence is meaningful and shrinks well.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { MemoryStorage } from "../../src/raft/Storage.js"
import type { Entry, Snapshot } from "../../src/raft/Types.js"
import type { GroupUpdate, LogStoreService } from "../../src/storage/LogStore.js"
import {
  type BackendUnderTest,
  conf,
  entries,
  expectSameAsModel,
  G,
  hs,
  type StoreHarness,
  withStore,
} from "./harness.js"

const GROUPS = 4

interface Command {
  /** 0..99: which operation (weights below). */
  readonly op: number
  /** Bit set of the groups (1..GROUPS) the write touches. */
  readonly groups: number
  readonly a: number
  readonly b: number
  readonly c: number
}

const command: fc.Arbitrary<Command> = fc.record({
  op: fc.integer({ min: 0, max: 99 }),
  groups: fc.integer({ min: 1, max: (1 << GROUPS) - 1 }),
  a: fc.nat(1000),
  b: fc.nat(1000),
  c: fc.nat(1000),
})

interface GroupModel {
  storage: MemoryStorage
  /** The group's current term, only ever increasing (as in Raft). */
  term: number
  present: boolean
}

const snapshotIndex = (m: GroupModel): number => {
  const s = m.storage.snapshot()
  return "metadata" in s ? s.metadata.index : 0
}

/** Turns one command for one group into an update, applying it to the model. */
const plan = (group: number, m: GroupModel, cmd: Command): GroupUpdate | undefined => {
  const s = m.storage
  const floor = s.firstIndex() - 1
  const last = s.lastIndex()
  const snap = snapshotIndex(m)
  const kind =
    cmd.op < 45
      ? "append"
      : cmd.op < 60
        ? "hardState"
        : cmd.op < 70
          ? "install"
          : cmd.op < 82
            ? "save"
            : "compact"
  switch (kind) {
    case "append": {
      if (cmd.c % 4 === 0) m.term++
      const lo = Math.max(floor, snap) + 1
      const at = lo + (cmd.a % (last + 2 - lo))
      const ents: Entry[] = entries(group, at, at + (cmd.b % 5), m.term)
      s.append(ents)
      const update: GroupUpdate = { groupId: G(group), entries: ents }
      return cmd.c % 3 === 0 ? { ...update, hardState: setHardState(m, cmd) } : update
    }
    case "hardState":
      return { groupId: G(group), hardState: setHardState(m, cmd) }
    case "install": {
      m.term += cmd.c % 2
      const index = snap + 1 + (cmd.a % 12)
      const snapshot: Snapshot = {
        metadata: { index, term: m.term, confState: conf(1 + (cmd.b % 3), 4) },
        data: entries(group, index, index, cmd.b)[0]!.data,
      }
      if (s.applySnapshot(snapshot) !== "ok") throw new Error("model refused a newer snapshot")
      return { groupId: G(group), snapshot }
    }
    case "save": {
      if (last <= snap) return undefined
      const index = snap + 1 + (cmd.a % (last - snap))
      const made = s.createSnapshot(
        index,
        conf(1, 2, 3 + (cmd.b % 2)),
        entries(group, index, index, 9)[0]!.data,
      )
      if (typeof made !== "object" || !("metadata" in made)) throw new Error("model refused a snapshot")
      return { groupId: G(group), savedSnapshot: made }
    }
    case "compact": {
      if (snap <= floor) return undefined
      const index = floor + 1 + (cmd.a % (snap - floor))
      if (s.compact(index) !== "ok") throw new Error("model refused a compaction")
      return { groupId: G(group), compactTo: index }
    }
  }
}

const setHardState = (m: GroupModel, cmd: Command) => {
  const h = hs(m.term, cmd.b % 4, Math.min(m.storage.lastIndex(), cmd.a % 50))
  m.storage.setHardState(h)
  return h
}

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
const apply = (store: LogStoreService, models: GroupModel[], cmd: Command) =>
  Effect.gen(function* () {
    if (cmd.op >= 94) {
      const k = cmd.a % GROUPS
      yield* store.removeGroup(G(k + 1))
      models[k] = { storage: new MemoryStorage(), term: models[k]!.term, present: false }
      return
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
    if (updates.length > 0) yield* store.write(updates)
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
          for (const cmd of segment) yield* apply(store, models, cmd)
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
