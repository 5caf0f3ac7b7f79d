/**
 * Rebuilding a replica's in-memory log (`MemoryStorage` from src/raft) from what a `LogStore`
 * loaded, so that after a restart the Raft core sees exactly the state it had persisted: same
 * hard state, snapshot, first and last index, floor term and entries.
 */
import { MemoryStorage } from "../raft/Storage.js"
import { EMPTY_BYTES } from "../raft/Types.js"
import type { LoadedGroup } from "./LogStoreService.js"

/**
 * A `MemoryStorage` holding exactly `loaded`.
 *
 * When the floor is below the snapshot (entries kept after a snapshot for slow followers), the
 * log is rebuilt from the floor first and the snapshot recorded on top, which is how it came
 * to be. Throws a `RangeError` when `loaded` breaks the store's invariants (a bug).
 */
export const toMemoryStorage = (loaded: LoadedGroup): MemoryStorage => {
  const storage = new MemoryStorage()
  const floor = loaded.firstIndex - 1
  const snap = loaded.snapshot
  if (snap !== undefined && snap.metadata.index === floor) storage.applySnapshot(snap)
  else if (floor > 0) {
    if (snap === undefined || snap.metadata.index < floor)
      throw new RangeError(`group ${loaded.groupId}: floor ${floor} is above its snapshot`)
    storage.applySnapshot({
      metadata: { index: floor, term: loaded.floorTerm, confState: snap.metadata.confState },
      data: EMPTY_BYTES,
    })
  }
  storage.append(loaded.entries)
  if (snap !== undefined && snap.metadata.index > floor) {
    const made = storage.createSnapshot(snap.metadata.index, snap.metadata.confState, snap.data)
    if (typeof made !== "object" || !("metadata" in made) || made.metadata.term !== snap.metadata.term)
      throw new RangeError(
        `group ${loaded.groupId}: snapshot at ${snap.metadata.index} does not match the log`,
      )
  }
  storage.setHardState(loaded.hardState)
  return storage
}
