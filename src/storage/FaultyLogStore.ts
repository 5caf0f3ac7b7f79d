/**
 * Fault injection for `LogStore`s, for Flotilla's tests and for users' fault-injection suites.
 * A faulty layer provides a real store (memory or LevelDB) plus `FaultControl`, a handle that
 * arms faults at the store's lowest points, so what is tested is the store's real reaction:
 *
 * - `failNextWrite`: the next batch fails before anything reaches the disk; its callers get
 *   `WriteFailed` (or `DiskFull`); the store keeps working.
 * - `failNextSync`: the next batch reaches the OS unsynced and its callers get `SyncFailed`;
 *   the store is stopped until reopened (as after a real fsync failure), and after reopening
 *   the batch is either wholly there or wholly absent.
 * - `slowSync` / `pauseSync` / `resumeSync` / `awaitPausedSync`: delay or hold syncs, to test
 *   group commit and callers that wait for durability.
 * - `corruptEntry` / `corruptSnapshot`: later reads of that entry (or snapshot data) return a
 *   flipped bit, which the checksum check reports as `CorruptedEntry` / `CorruptedSnapshot`,
 *   stopping that group only.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import type { GroupId } from "../raft/Ids.js"
import type { Index } from "../raft/Types.js"
import { FaultPlan } from "./internal/FaultPlan.js"
import * as LevelLogStore from "./LevelLogStore.js"
import { LogStore } from "./LogStore.js"
import * as MemoryLogStore from "./MemoryLogStore.js"
import type { StoreError } from "./StoreErrors.js"

/** The handle that arms faults on the store of the same layer. */
export interface FaultControlService {
  /** The next batch fails before reaching the disk (`diskFull` presents it as a full disk). */
  readonly failNextWrite: (options?: { readonly diskFull?: boolean }) => Effect.Effect<void>
  /** The next batch reaches the OS but its sync fails; the store stops until reopened. */
  readonly failNextSync: Effect.Effect<void>
  /** The syncs of the next `count` batches (default 1) each take `ms` milliseconds longer. */
  readonly slowSync: (ms: number, count?: number) => Effect.Effect<void>
  /** Holds every batch at its sync until `resumeSync`. */
  readonly pauseSync: Effect.Effect<void>
  /** Releases held batches. */
  readonly resumeSync: Effect.Effect<void>
  /** Waits until `count` batches (default 1) are held at a paused sync. */
  readonly awaitPausedSync: (count?: number) => Effect.Effect<void>
  /** Every later read of entry `index` of `groupId` returns corrupted bytes. */
  readonly corruptEntry: (groupId: GroupId, index: Index) => Effect.Effect<void>
  /** Every later read of the snapshot data of `groupId` returns corrupted bytes. */
  readonly corruptSnapshot: (groupId: GroupId) => Effect.Effect<void>
  /** Disarms every fault and releases held batches. */
  readonly clear: Effect.Effect<void>
}

/** Fault injection for the `LogStore` provided by the same layer. */
export class FaultControl extends Context.Tag("flotilla/storage/FaultControl")<
  FaultControl,
  FaultControlService
>() {}

/** The control service over a fault plan. */
const controlOf = (plan: FaultPlan): FaultControlService => ({
  failNextWrite: (options) => Effect.sync(() => plan.failNextWrite(options?.diskFull ? "diskFull" : "io")),
  failNextSync: Effect.sync(() => plan.failNextSync()),
  slowSync: (ms, count = 1) => Effect.sync(() => plan.slowSync(ms, count)),
  pauseSync: Effect.sync(() => plan.pauseSync()),
  resumeSync: Effect.sync(() => plan.resumeSync()),
  awaitPausedSync: (count = 1) => Effect.promise(() => plan.whenHeld(count)),
  corruptEntry: (groupId, index) => Effect.sync(() => plan.corruptEntry(groupId, index)),
  corruptSnapshot: (groupId) => Effect.sync(() => plan.corruptSnapshot(groupId)),
  clear: Effect.sync(() => plan.clear()),
})

const withControl = <E>(
  open: (plan: FaultPlan) => Effect.Effect<LogStore["Type"], E, Scope.Scope>,
): Layer.Layer<LogStore | FaultControl, E> => {
  const plan = Effect.sync(() => new FaultPlan())
  return Layer.unwrapScoped(
    Effect.map(plan, (p) =>
      Layer.merge(Layer.scoped(LogStore, open(p)), Layer.succeed(FaultControl, controlOf(p))),
    ),
  )
}

/** A faulty in-memory store on `disk` (a fresh one when omitted). */
export const layerMemory = (
  disk?: MemoryLogStore.MemoryDisk,
): Layer.Layer<LogStore | FaultControl, StoreError> =>
  withControl((plan) => MemoryLogStore.make(disk ?? new MemoryLogStore.MemoryDisk(), plan))

/** A faulty LevelDB store in `dir`. */
export const layerLevel = (
  dir: string,
  options?: LevelLogStore.LevelOptions,
): Layer.Layer<LogStore | FaultControl, StoreError> =>
  withControl((plan) => LevelLogStore.make(dir, options, plan))
