/**
 * The committed state of every stored group, in memory: what is durable (`meta`) and whether
 * the group is stopped (`failed`). Written only when a batch is durable; read by planning and
 * by every read. Also the store-wide status: stopped (after a failed batch) or closing.
 */
import type { GroupId } from "../../raft/Ids.js"
import type { Index, Term } from "../../raft/Types.js"
import { CorruptedEntry, type GroupError, StoreClosed, type StoreError } from "../StoreErrors.js"
import type { Backend } from "./Backend.js"
import { decodeEntryTerm, entryKey } from "./Codec.js"
import type { FaultPlan } from "./FaultPlan.js"
import { emptyMeta, type GroupMeta } from "./Plan.js"

/** One group's committed state. */
export interface GroupState {
  meta: GroupMeta
  failed: GroupError | undefined
}

/** Committed state of all groups, and the store's status. */
export class GroupTable {
  readonly groups = new Map<GroupId, GroupState>()
  /** Set after a failed batch: every later call fails with it. */
  stopped: StoreError | undefined
  /** Set when the store starts closing: later calls fail with `StoreClosed`. */
  closing = false

  constructor(
    private readonly backend: Backend<unknown>,
    private readonly faults: FaultPlan | undefined,
  ) {
    for (const g of backend.opened) this.groups.set(g.groupId, { meta: g.meta, failed: g.failed })
  }

  /** Where the data lives (for messages). */
  get location(): string {
    return this.backend.location
  }

  /** The error every call must fail with now, if any. */
  refusal(): StoreError | undefined {
    if (this.stopped !== undefined) return this.stopped
    return this.closing ? new StoreClosed({ dir: this.location }) : undefined
  }

  /** Marks a group stopped (keeping its first error) and returns the error it is stopped with. */
  stop(groupId: GroupId, error: GroupError): GroupError {
    const st = this.groups.get(groupId)
    if (st === undefined) {
      this.groups.set(groupId, { meta: emptyMeta, failed: error })
      return error
    }
    st.failed ??= error
    return st.failed
  }

  /** Stops the group for a bad entry and returns the error to throw. */
  corruptEntry(groupId: GroupId, index: Index, detail: string): GroupError {
    return this.stop(groupId, new CorruptedEntry({ dir: this.location, groupId, index, detail }))
  }

  /**
   * Reads the term of a durable entry synchronously, checking its checksum (for planning
   * compactions and snapshots). Throws the group's error when the entry is bad.
   */
  readonly readTerm = (groupId: GroupId, index: Index): Term => {
    const raw = this.backend.readEntrySync(groupId, index)
    if (raw === undefined) throw this.corruptEntry(groupId, index, "the entry is missing from the live range")
    const value = this.faults === undefined ? raw : this.faults.readEntry(groupId, index, raw)
    const term = decodeEntryTerm(entryKey(groupId, index), value)
    if (term === undefined) throw this.corruptEntry(groupId, index, "checksum mismatch")
    return term
  }
}
