/**
 * Reads every record of a LevelDB instance of a store (a private copy: `StoreCopy.ts`) and
 * checks each one as the store does when it reads it: the CRC-32 that covers value and key,
 * the record's length and shape. Nothing is kept but what a report needs: per group its
 * records, counts and sizes, its conf-change entries and the entries asked for.
 */

import { decodeConfChange } from "../../raft/ConfChange.js"
import type { GroupId } from "../../raft/Ids.js"
import { type Entry, EntryType, type HardState, type Index } from "../../raft/Types.js"
import {
  decodeEntry,
  decodeFloor,
  decodeHardState,
  decodeSnapshotRef,
  type Floor,
  GROUP_KEY_BYTES,
  groupOfKey,
  indexOfEntryKey,
  Kind,
  type SnapshotRef,
} from "../internal/Codec.js"
import type { Db } from "../internal/LevelBackend.js"
import type { StoredConfChange } from "./ConfReplay.js"

/** A record that failed its check. */
export interface Problem {
  /** Undefined for a key too short to name a group. */
  readonly group: GroupId | undefined
  readonly record: "hardState" | "snapshot" | "logFloor" | "entry" | "key" | "snapshotFile"
  /** The entry's index, for entries. */
  readonly index: Index | undefined
  readonly detail: string
}

/** What the scan found of one group. */
export interface ScannedGroup {
  readonly groupId: GroupId
  hardState: HardState | undefined
  snapshot: SnapshotRef | undefined
  floor: Floor | undefined
  /** Entries above the floor: count, bytes of their stored values, first and last index. */
  entries: number
  entryBytes: number
  firstIndex: Index | undefined
  lastIndex: Index | undefined
  /** Entries at or below the floor, still stored until a background sweep deletes them. */
  belowFloor: number
  readonly confChanges: StoredConfChange[]
  /** The entries of the range asked for. */
  readonly selected: Entry[]
}

/** Entries to keep while scanning: `from..to` of `group`. */
export interface Selection {
  readonly group: GroupId
  readonly from: Index
  readonly to: Index
}

/** Scan state over all instances of one store. */
export class RecordScan {
  readonly groups = new Map<GroupId, ScannedGroup>()
  readonly problems: Problem[] = []
  records = 0

  constructor(private readonly selection: Selection | undefined) {}

  private group(groupId: GroupId): ScannedGroup {
    let g = this.groups.get(groupId)
    if (g === undefined) {
      g = {
        groupId,
        hardState: undefined,
        snapshot: undefined,
        floor: undefined,
        entries: 0,
        entryBytes: 0,
        firstIndex: undefined,
        lastIndex: undefined,
        belowFloor: 0,
        confChanges: [],
        selected: [],
      }
      this.groups.set(groupId, g)
    }
    return g
  }

  private problem(
    group: GroupId | undefined,
    record: Problem["record"],
    index: Index | undefined,
    detail: string,
  ) {
    this.problems.push({ group, record, index, detail })
  }

  /** Reads every record of `db`. */
  async scan(db: Db): Promise<void> {
    const it = db.iterator()
    try {
      for (;;) {
        const chunk = await it.nextv(1024)
        if (chunk.length === 0) break
        for (const [key, value] of chunk) this.record(key, value)
      }
    } finally {
      await it.close()
    }
  }

  private record(key: Buffer, value: Buffer): void {
    this.records++
    if (key.length < GROUP_KEY_BYTES) {
      this.problem(undefined, "key", undefined, `a ${key.length}-byte key names no group`)
      return
    }
    const g = this.group(groupOfKey(key))
    const bad = (record: Problem["record"]) => this.problem(g.groupId, record, undefined, "checksum mismatch")
    if (key[4] !== Kind.Entry && key.length !== GROUP_KEY_BYTES) {
      this.problem(g.groupId, "key", undefined, `malformed ${key.length}-byte key of kind ${key[4]}`)
      return
    }
    switch (key[4]) {
      case Kind.HardState:
        g.hardState = decodeHardState(key, value)
        if (g.hardState === undefined) bad("hardState")
        return
      case Kind.Snapshot:
        g.snapshot = decodeSnapshotRef(key, value)
        if (g.snapshot === undefined) bad("snapshot")
        return
      case Kind.Floor:
        g.floor = decodeFloor(key, value)
        if (g.floor === undefined) bad("logFloor")
        return
      case Kind.Entry:
        this.entry(g, key, value)
        return
      default:
        this.problem(g.groupId, "key", undefined, `unknown record kind ${key[4]}`)
    }
  }

  private entry(g: ScannedGroup, key: Buffer, value: Buffer): void {
    const index = indexOfEntryKey(key)
    if (index < 0) {
      this.problem(g.groupId, "key", undefined, "malformed entry key")
      return
    }
    const e = decodeEntry(key, index, value)
    if (e === undefined) this.problem(g.groupId, "entry", index, "checksum mismatch")
    const floor = g.floor?.index ?? 0
    if (index <= floor) {
      g.belowFloor++
      return
    }
    // A damaged record still occupies its index: only absent indexes are gaps.
    const expected = (g.lastIndex ?? floor) + 1
    if (index !== expected) {
      const detail = index === expected + 1 ? "missing" : `missing, and the ${index - expected - 1} after it`
      this.problem(g.groupId, "entry", expected, detail)
    }
    g.firstIndex ??= index
    g.lastIndex = index
    g.entries++
    g.entryBytes += value.length
    if (e === undefined) return
    if (e.type === EntryType.ConfChange) {
      const change = decodeConfChange(e.data)
      if (change === undefined) this.problem(g.groupId, "entry", index, "malformed conf change")
      else g.confChanges.push({ index, change })
    }
    const s = this.selection
    if (s !== undefined && s.group === g.groupId && index >= s.from && index <= s.to) g.selected.push(e)
  }
}
