/**
 * The in-memory `LogStore`: the same store core (group commit, rules, checksums) as the
 * LevelDB store, over a `MemoryDisk` instead of files. For the deterministic simulator and
 * for tests.
 *
 * A `MemoryDisk` outlives the stores opened on it, so a simulated node can "crash" (drop its
 * store without closing it: `disk.crash()`) and reopen the same disk: exactly what the last
 * acknowledged batches left is there. Like the LevelDB store, a disk is locked while a store
 * has it open, and a batch whose sync "failed" (fault injection) still reaches the disk.
 *
 * Entries are kept encoded with their checksum, as LevelDB would hold them, so corruption
 * injected on read is caught by the same check.
 */
import { Effect, type Scope } from "effect"
import type { GroupId } from "../raft/Ids.js"
import type { HardState, Index, Snapshot } from "../raft/Types.js"
import type { Backend, OpenedGroup, RawEntries } from "./internal/Backend.js"
import {
  dataCrc,
  encodeEntry,
  entryKey,
  type Floor,
  type SnapshotRef,
  sizeOfEntryValue,
} from "./internal/Codec.js"
import type { FaultPlan } from "./internal/FaultPlan.js"
import { emptyMeta, type Op } from "./internal/Plan.js"
import { scopedService } from "./internal/StoreService.js"
import type { LogStoreService } from "./LogStoreService.js"
import { CorruptedSnapshot, StoreClosed, StoreLocked } from "./StoreErrors.js"

interface DiskGroup {
  hardState: HardState | undefined
  snapshot: SnapshotRef | undefined
  floor: Floor
  /** Encoded entries `floor.index + 1 ..`. */
  values: Uint8Array[]
}

/** Durable state of a simulated node's storage: survives the stores opened on it. */
export class MemoryDisk {
  /** @internal */
  readonly groups = new Map<GroupId, DiskGroup>()
  /** @internal */
  readonly files = new Map<string, Uint8Array>()
  /** @internal */
  holder: object | undefined = undefined
  /** @internal */
  nextFile = 1

  /** `name` appears in error messages in place of a directory. */
  constructor(readonly name: string = "memory") {}

  /**
   * Simulates the death of the process holding the disk: the store open on it (if any) stops
   * answering (every call fails with `StoreClosed`) and the disk can be opened again.
   */
  crash(): void {
    this.holder = undefined
  }
}

/** A batch under construction: the operations and their entries already encoded. */
interface MemoryBatch {
  readonly ops: Op[]
  readonly values: Array<Uint8Array[] | undefined>
}

class MemoryBackend implements Backend<MemoryBatch> {
  readonly location: string
  readonly opened: OpenedGroup[] = []

  constructor(private readonly disk: MemoryDisk) {
    this.location = disk.name
    const referenced = new Set<string>()
    for (const [groupId, g] of disk.groups) {
      if (g.snapshot !== undefined) referenced.add(g.snapshot.file)
      const meta = {
        hardState: g.hardState ?? emptyMeta.hardState,
        snapshot: g.snapshot,
        floor: g.floor,
        lastIndex: g.floor.index + g.values.length,
      }
      this.opened.push({ groupId, meta, failed: undefined })
    }
    for (const file of [...disk.files.keys()]) if (!referenced.has(file)) disk.files.delete(file)
  }

  private alive(): void {
    if (this.disk.holder !== this) throw new StoreClosed({ dir: this.location })
  }

  private group(groupId: GroupId): DiskGroup {
    let g = this.disk.groups.get(groupId)
    if (g === undefined) {
      g = { hardState: undefined, snapshot: undefined, floor: emptyMeta.floor, values: [] }
      this.disk.groups.set(groupId, g)
    }
    return g
  }

  begin(): MemoryBatch {
    return { ops: [], values: [] }
  }

  add(batch: MemoryBatch, ops: ReadonlyArray<Op>): void {
    // Encode now so that nothing in `write` can throw half way: a batch applies whole or not at all.
    for (const op of ops) {
      batch.ops.push(op)
      batch.values.push(
        op._tag === "PutEntries"
          ? op.entries.map((e) => encodeEntry(entryKey(op.groupId, e.index), e))
          : undefined,
      )
    }
  }

  async write(batch: MemoryBatch, _sync: boolean): Promise<void> {
    this.alive()
    for (let k = 0; k < batch.ops.length; k++) {
      const op = batch.ops[k]!
      const g = this.group(op.groupId)
      switch (op._tag) {
        case "PutEntries": {
          const values = batch.values[k]!
          const at = op.entries[0]!.index - g.floor.index - 1
          for (let j = 0; j < values.length; j++) g.values[at + j] = values[j]!
          break
        }
        case "DeleteEntries":
          g.values.length = Math.min(g.values.length, op.from - g.floor.index - 1)
          break
        case "PutHardState":
          g.hardState = op.hardState
          break
        case "PutSnapshot":
          g.snapshot = op.ref
          break
        case "PutFloor": {
          const drop = op.floor.index - g.floor.index
          g.values = drop >= g.values.length ? [] : g.values.slice(drop)
          g.floor = op.floor
          break
        }
      }
    }
  }

  abandon(_batch: MemoryBatch): void {}

  async removeGroup(groupId: GroupId, _sync: boolean): Promise<void> {
    this.alive()
    this.disk.groups.delete(groupId)
  }

  async readEntries(groupId: GroupId, lo: Index, hi: Index, maxBytes: number): Promise<RawEntries> {
    this.alive()
    const g = this.disk.groups.get(groupId)
    const indexes: Index[] = []
    const values: Uint8Array[] = []
    let limited = false
    if (g !== undefined) {
      let size = 0
      for (let i = Math.max(lo, g.floor.index + 1); i < hi; i++) {
        const v = g.values[i - g.floor.index - 1]
        if (v === undefined) break
        size += sizeOfEntryValue(v)
        if (values.length > 0 && size > maxBytes) {
          limited = true
          break
        }
        indexes.push(i)
        values.push(v)
      }
    }
    return { indexes, values, limited }
  }

  readEntrySync(groupId: GroupId, index: Index): Uint8Array | undefined {
    this.alive()
    const g = this.disk.groups.get(groupId)
    return g === undefined ? undefined : g.values[index - g.floor.index - 1]
  }

  async writeSnapshot(groupId: GroupId, snapshot: Snapshot): Promise<SnapshotRef> {
    this.alive()
    const file = `g${groupId}-i${snapshot.metadata.index}-${this.disk.nextFile++}.snap`
    this.disk.files.set(file, snapshot.data.slice())
    return { metadata: snapshot.metadata, file, size: snapshot.data.length, crc: dataCrc(snapshot.data) }
  }

  async readSnapshot(groupId: GroupId, ref: SnapshotRef): Promise<Uint8Array> {
    this.alive()
    const data = this.disk.files.get(ref.file)
    if (data === undefined)
      throw new CorruptedSnapshot({ groupId, file: ref.file, detail: "the file is missing" })
    return data.slice()
  }

  async deleteSnapshot(_groupId: GroupId, file: string): Promise<void> {
    if (this.disk.holder === this) this.disk.files.delete(file)
  }

  hasGarbage(): boolean {
    return false
  }

  async sweep(_limit: number): Promise<void> {}

  async close(): Promise<void> {
    if (this.disk.holder === this) this.disk.holder = undefined
  }
}

/**
 * Opens a store on `disk` (a fresh one when omitted) for the scope's lifetime; fails with
 * `StoreLocked` while another store has the disk open. `faults` is how `FaultyLogStore` arms
 * fault injection; leave it out.
 */
export const make = (
  disk: MemoryDisk = new MemoryDisk(),
  faults?: FaultPlan,
): Effect.Effect<LogStoreService, StoreLocked, Scope.Scope> =>
  scopedService(
    Effect.suspend(() => {
      if (disk.holder !== undefined) return Effect.fail(new StoreLocked({ dir: disk.name }))
      const backend = new MemoryBackend(disk)
      disk.holder = backend
      return Effect.succeed(backend)
    }),
    faults,
  )
