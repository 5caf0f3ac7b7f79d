/**
 * The faults a `FaultControl` has armed, consulted by the store core at its lowest points: just
 * before a batch goes to the back end, at the batch's sync, and on every raw value read (before
 * the checksum is checked, so corruption is detected by the same code that guards real data).
 */
import type { GroupId } from "../../raft/Ids.js"
import type { Index } from "../../raft/Types.js"

/** How an armed write failure presents itself. */
export type WriteFailureKind = "io" | "diskFull"

/** What the store core must do with the next batch. */
export type BatchFault = "none" | "failWrite" | "failSync"

interface Gate {
  readonly promise: Promise<void>
  readonly release: () => void
}

const gate = (): Gate => {
  let release = () => {}
  const promise = new Promise<void>((resolve) => {
    release = resolve
  })
  return { promise, release }
}

/** Mutable set of armed faults. One per faulty store; the store core reads, the control writes. */
export class FaultPlan {
  private writeFailures: WriteFailureKind[] = []
  private syncFailures = 0
  private slowMs = 0
  private slowCount = 0
  private hold: Gate | undefined
  private held = 0
  private heldWaiters: Array<() => void> = []
  private readonly entries = new Set<string>()
  private readonly snapshots = new Set<GroupId>()

  /** Arms a failure of the next batch before anything reaches the disk. */
  failNextWrite(kind: WriteFailureKind): void {
    this.writeFailures.push(kind)
  }

  /** Arms a failure of the next batch's sync: the batch reaches the OS unsynced, the caller gets an error. */
  failNextSync(): void {
    this.syncFailures++
  }

  /** Delays the sync of the next `count` batches by `ms` milliseconds. */
  slowSync(ms: number, count: number): void {
    this.slowMs = ms
    this.slowCount = count
  }

  /** Holds every sync until `resumeSync` (batches queue behind the held one). */
  pauseSync(): void {
    if (this.hold === undefined) this.hold = gate()
  }

  /** Releases held syncs. */
  resumeSync(): void {
    const g = this.hold
    this.hold = undefined
    g?.release()
  }

  /** Resolves once at least `n` batches are waiting at a paused sync. */
  whenHeld(n: number): Promise<void> {
    if (this.held >= n) return Promise.resolve()
    return new Promise((resolve) => {
      const check = () => {
        if (this.held >= n) resolve()
        else this.heldWaiters.push(check)
      }
      this.heldWaiters.push(check)
    })
  }

  /** Corrupts every later read of entry `index` of `groupId` (one flipped bit). */
  corruptEntry(groupId: GroupId, index: Index): void {
    this.entries.add(`${groupId}:${index}`)
  }

  /** Corrupts every later read of the snapshot data of `groupId`. */
  corruptSnapshot(groupId: GroupId): void {
    this.snapshots.add(groupId)
  }

  /** Disarms everything and releases held syncs. */
  clear(): void {
    this.writeFailures = []
    this.syncFailures = 0
    this.slowMs = 0
    this.slowCount = 0
    this.entries.clear()
    this.snapshots.clear()
    this.resumeSync()
  }

  /** Store core: what happens to the batch about to be written. */
  takeBatchFault(): { readonly fault: BatchFault; readonly kind: WriteFailureKind } {
    const kind = this.writeFailures.shift()
    if (kind !== undefined) return { fault: "failWrite", kind }
    if (this.syncFailures > 0) {
      this.syncFailures--
      return { fault: "failSync", kind: "io" }
    }
    return { fault: "none", kind: "io" }
  }

  /** Store core: waits as armed before a batch is synced. */
  async beforeSync(): Promise<void> {
    if (this.slowCount > 0) {
      this.slowCount--
      const ms = this.slowMs
      await new Promise<void>((resolve) => setTimeout(resolve, ms))
    }
    while (this.hold !== undefined) {
      const g = this.hold
      this.held++
      const waiters = this.heldWaiters
      this.heldWaiters = []
      for (const w of waiters) w()
      await g.promise
      this.held--
    }
  }

  /** Store core: true when the core must call `beforeSync` (keeps the hot path free of awaits). */
  hasSyncDelay(): boolean {
    return this.slowCount > 0 || this.hold !== undefined
  }

  /** Store core: the raw value as read, corrupted when armed for this entry. */
  readEntry(groupId: GroupId, index: Index, value: Uint8Array): Uint8Array {
    if (this.entries.size === 0 || !this.entries.has(`${groupId}:${index}`)) return value
    return flip(value)
  }

  /** Store core: the snapshot data as read, corrupted when armed for this group. */
  readSnapshot(groupId: GroupId, data: Uint8Array): Uint8Array {
    return this.snapshots.has(groupId) ? flip(data) : data
  }
}

const flip = (value: Uint8Array): Uint8Array => {
  const copy = new Uint8Array(value.length === 0 ? 1 : value.length)
  copy.set(value)
  const at = copy.length - 1
  copy[at] = copy[at]! ^ 0x01
  return copy
}
