/**
 * Shared helpers of the storage tests: a harness per back end (a "disk" that stores can be
 * opened on, closed and reopened), deterministic entries, and comparisons against src/raft's
 * `MemoryStorage`.
 */
import { expect } from "@effect/vitest"
import { Context, Effect, Layer, type Scope } from "effect"
import type { MemoryStorage } from "../../src/raft/Storage.js"
import type { Entry } from "../../src/raft/Types.js"
import { FaultControl, type FaultControlService } from "../../src/storage/FaultyLogStore.js"
import { type LoadedGroup, LogStore, type LogStoreService } from "../../src/storage/LogStore.js"
import { toMemoryStorage } from "../../src/storage/Restore.js"
import type { StoreError } from "../../src/storage/StoreErrors.js"

/** A disk that stores can be opened on, one at a time, and reopened. */
export interface StoreHarness {
  /** A store with fault control on this harness's disk. */
  readonly layer: Layer.Layer<LogStore | FaultControl, StoreError>
  /** Where the data lives (the store's `location`). */
  readonly location: string
  /** Removes everything the harness created. */
  readonly dispose: () => void
  /** How many snapshot data items (files) the disk holds now, referenced or not. */
  readonly snapshotFiles: () => number
}

/** A back end under test. */
export interface BackendUnderTest {
  readonly name: string
  readonly harness: () => StoreHarness
}

/** An open store and its fault control. */
export interface Opened {
  readonly store: LogStoreService
  readonly faults: FaultControlService
}

/** Opens a store on the harness's disk for the current scope. */
export const open = (h: StoreHarness): Effect.Effect<Opened, StoreError, Scope.Scope> =>
  Effect.map(Layer.build(h.layer), (ctx) => ({
    store: Context.get(ctx, LogStore),
    faults: Context.get(ctx, FaultControl),
  }))

/** Runs `f` on a store opened on `h` and closes it afterwards. */
export const withStore = <A, E>(h: StoreHarness, f: (o: Opened) => Effect.Effect<A, E>) =>
  Effect.scoped(Effect.flatMap(open(h), f))

export { conf, entries, G, hs, payload, snapshot } from "./workload.js"

const entryView = (e: Entry) => ({ index: e.index, term: e.term, type: e.type, data: Array.from(e.data) })

/** Everything observable about a `MemoryStorage`, as plain data. */
export const describeStorage = (s: MemoryStorage) => {
  const first = s.firstIndex()
  const last = s.lastIndex()
  const ents = s.entries(first, last + 1, Number.MAX_SAFE_INTEGER)
  const snap = s.snapshot()
  return {
    hardState: s.initialState().hardState,
    confState: s.initialState().confState,
    firstIndex: first,
    lastIndex: last,
    floorTerm: s.term(first - 1),
    entries: Array.isArray(ents) ? ents.map(entryView) : ents,
    snapshot:
      "metadata" in snap ? { metadata: snap.metadata, data: Array.from(snap.data) } : { unavailable: true },
  }
}

/** Asserts that what the store loaded for a group is exactly what `model` holds. */
export const expectSameAsModel = (loaded: LoadedGroup, model: MemoryStorage): void => {
  expect(describeStorage(toMemoryStorage(loaded))).toEqual(describeStorage(model))
}
