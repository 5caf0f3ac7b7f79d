/**
 * Durable per-group Raft logs: the `LogStore` service, its LevelDB and in-memory
 * implementations, fault injection, errors, and rebuilding `MemoryStorage` after a restart.
 */

/** Fault-injecting layers and `FaultControl`. */
export * as FaultyLogStore from "./FaultyLogStore.js"
/** The LevelDB implementation and its options. */
export * as LevelLogStore from "./LevelLogStore.js"
/** The service, its types and its layers. */
export * as LogStore from "./LogStore.js"
/** The in-memory implementation and `MemoryDisk`. */
export * as MemoryLogStore from "./MemoryLogStore.js"
/** Rebuilding `MemoryStorage` from a loaded group. */
export * as Restore from "./Restore.js"
/** Tagged errors. */
export * as StoreErrors from "./StoreErrors.js"
