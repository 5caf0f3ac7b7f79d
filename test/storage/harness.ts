/**
 * Shared helpers of the storage tests: a harness per back end (a "disk" that stores can be
 * opened on, closed and reopened), deterministic entries, and comparisons against src/raft's
 * `MemoryStorage`.
 */
import { expect } from "@effect/vitest"
import { Context, Effect, Layer, type Scope } from "effect"
import { GroupId } from "../../src/raft/Ids.js"
import type { MemoryStorage } from "../../src/raft/Storage.js"
import {
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type ReplicaId,
  type Snapshot,
} from "../../src/raft/Types.js"
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

/** The payload of entry `index` of `group` written in `term`: distinct for each, of varying size. */
export const payload = (group: number, index: number, term: number): Uint8Array =>
  new TextEncoder().encode(`g${group}i${index}t${term}${"x".repeat((index * 7 + group) % 23)}`)

/** Entries `from .. to` of `group`, all in `term`. */
export const entries = (group: number, from: number, to: number, term: number): Entry[] => {
  const out: Entry[] = []
  for (let i = from; i <= to; i++)
    out.push({ index: i, term, type: EntryType.Normal, data: payload(group, i, term) })
  return out
}

/** A configuration with the given voters. */
export const conf = (...voters: number[]): ConfState => ({
  voters: voters as ReplicaId[],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
})

/** A snapshot at `index`/`term` with recognisable data. */
export const snapshot = (group: number, index: number, term: number, bytes = 64): Snapshot => {
  const data = new Uint8Array(bytes)
  for (let k = 0; k < bytes; k++) data[k] = (group * 13 + index * 7 + term + k) & 0xff
  return { metadata: { index, term, confState: conf(1, 2, 3) }, data }
}

/** A hard state. */
export const hs = (term: number, vote: number, commit: number): HardState => ({
  term,
  vote: vote as ReplicaId,
  commit,
})

/** Group ids for tests. */
export const G = (n: number): GroupId => GroupId(n)

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
