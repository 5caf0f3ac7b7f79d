/**
 * `LogStore`: the durable home of every Raft group's log on one node. It holds, per group, the
 * hard state, the entries, the log floor (index and term just before the first entry held) and
 * the latest snapshot; thousands of groups share one store so that one synced batch carries
 * the writes of a whole engine round.
 *
 * How the node runtime uses it: each replica keeps a `MemoryStorage` (src/raft) as the
 * synchronous mirror the Raft core reads; each engine round calls `write` ONCE with every
 * replica's `Ready` (snapshot to install, entries, hard state), and only after it succeeds
 * sends the messages that depend on them; at startup it calls `groups` and `load` for each and
 * rebuilds the mirrors with `Restore.toMemoryStorage`.
 *
 * CONTRACTS
 * - A caller MUST NOT treat an update as durable before `write` succeeds. When `write` fails,
 *   NOTHING of that call was acknowledged; it may or may not be on disk, and the store reads
 *   back the truth after a reopen.
 * - One `write` call is atomic for each group it touches, always; with one LevelDB instance
 *   (the default) it is atomic as a whole.
 * - Concurrent `write` calls are coalesced into one synced batch (group commit). Calls for the
 *   same group are applied in the order they were made. A caller MUST NOT change the updates
 *   (or their entries' data) it passed until its `write` has completed.
 * - A group whose data fails a checksum is STOPPED: every later call for it fails with the same
 *   error, and a `write` that carries an update for it fails as a whole (nothing of it is
 *   applied). The caller MUST drop that replica and retry the others; `removeGroup` wipes the
 *   group so it can be re-created and re-replicated. Other groups keep working.
 * - After a failed batch (write error, failed sync, full disk) the whole store is STOPPED: every
 *   later call fails with that error until the store is closed and reopened.
 *
 * Layers: `layerMemory` (a fresh in-memory store), `layerLevel(dir, options)` (LevelDB); see
 * `MemoryLogStore` for a memory store that survives simulated crashes, and `FaultyLogStore`
 * for the fault-injecting variants. Every layer is scoped: the store closes with its scope.
 */
import { Context, Effect, Layer } from "effect"
import * as LevelLogStore from "./LevelLogStore.js"
import type { LogStoreService } from "./LogStoreService.js"
import * as MemoryLogStore from "./MemoryLogStore.js"
import type { StoreError } from "./StoreErrors.js"

// The service's contract has its own module so that the stores that implement it need not
// import this one (which builds their layers); it is re-exported here, its public home.
export type {
  GroupUpdate,
  LoadedGroup,
  LogStoreService,
  StoreStats,
  WriteOptions,
} from "./LogStoreService.js"

/** The node's log store. */
export class LogStore extends Context.Tag("flotilla/storage/LogStore")<LogStore, LogStoreService>() {}

/** A fresh in-memory store (nothing survives the scope). */
export const layerMemory: Layer.Layer<LogStore> = Layer.scoped(LogStore, Effect.orDie(MemoryLogStore.make()))

/**
 * A LevelDB store in `dir` (created when missing unless `createIfMissing: false`; its parent
 * must exist). The directory is locked while the layer's scope is open.
 */
export const layerLevel = (
  dir: string,
  options?: LevelLogStore.LevelOptions,
): Layer.Layer<LogStore, StoreError> => Layer.scoped(LogStore, LevelLogStore.make(dir, options))
