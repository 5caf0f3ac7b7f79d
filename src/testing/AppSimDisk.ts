/**
 * Disk faults of a simulated node (`AppSim.diskFault`), armed on the node's store through the
 * fault plan of `FaultyLogStore` (storage/internal/FaultPlan.ts), so what is tested is the real
 * store's and the real node's reaction:
 *
 * - `failedWrite`: the node's next batch fails before anything reaches the disk (an I/O error);
 * - `failedSync`: the next batch reaches the disk unsynced and its sync fails;
 * - `full`: every batch fails as `DiskFull` until the fault is cleared (a disk stays full until
 *   space is freed: a node restarted meanwhile fails again at its first write);
 * - `corruption`: every entry and snapshot stored on the disk now (of one group, or of all)
 *   reads back with a flipped bit until cleared; the checksum check reports it and the group
 *   that read it stops on that node (`CorruptedEntry`: that group only, not the node).
 *
 * A failed write or sync ends the node, as the production policy says (decision 0071): the
 * store loop dies, and in a simulation built with `loopDeathEndsNode` the node is down from that
 * instant. The test clears the fault (`clearDiskFault`) and restarts the node, as an operator
 * frees space and the supervisor starts the process again.
 */
import type { GroupId } from "../raft/Ids.js"
import { type BatchFault, FaultPlan, type WriteFailureKind } from "../storage/internal/FaultPlan.js"
import type { MemoryDisk } from "../storage/MemoryLogStore.js"

/** A disk fault (see the module comment). */
export type DiskFault = "failedWrite" | "failedSync" | "full" | "corruption"

/** Every disk fault, for schedules. */
export const DISK_FAULTS: ReadonlyArray<DiskFault> = ["failedWrite", "failedSync", "full", "corruption"]

/** A fault plan with a lasting full disk besides the one-shot faults of `FaultPlan`. */
export class SimDiskPlan extends FaultPlan {
  /** Every batch fails as `DiskFull` while set. */
  full = false

  override takeBatchFault(): { readonly fault: BatchFault; readonly kind: WriteFailureKind } {
    return this.full ? { fault: "failWrite", kind: "diskFull" } : super.takeBatchFault()
  }

  override clear(): void {
    this.full = false
    super.clear()
  }
}

/** Arms `fault` on a node's store: its plan and the disk under it (corruption reads what is stored). */
export const arm = (
  plan: SimDiskPlan,
  disk: MemoryDisk,
  fault: DiskFault,
  options: { readonly group?: GroupId } = {},
): void => {
  switch (fault) {
    case "failedWrite":
      plan.failNextWrite("io")
      return
    case "failedSync":
      plan.failNextSync()
      return
    case "full":
      plan.full = true
      return
    case "corruption":
      for (const [groupId, g] of disk.groups) {
        if (options.group !== undefined && groupId !== options.group) continue
        for (let k = 1; k <= g.values.length; k++) plan.corruptEntry(groupId, g.floor.index + k)
        if (g.snapshot !== undefined) plan.corruptSnapshot(groupId)
      }
      return
  }
}
