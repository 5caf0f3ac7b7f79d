/**
 * The log's rules, in one place for every back end: how an update changes a group's metadata
 * and which physical operations realise it, or why it is refused.
 *
 * A group's log is `floor` (index and term of the entry before the first one held), the
 * entries `floor.index + 1 .. lastIndex`, the latest snapshot and the hard state. Invariants
 * kept here (and relied on by `Restore.toMemoryStorage`):
 *
 * - `floor.index <= snapshot.index <= lastIndex` when there is a snapshot; `floor.index = 0`
 *   when there is none (nothing may be compacted that no snapshot covers);
 * - entries up to the snapshot index are immutable: an append MUST start after it;
 * - entries are contiguous: an append MUST NOT leave a gap after `lastIndex`.
 *
 * Within one update the parts apply in this order: install `snapshot`, append `entries`, set
 * `hardState`, record `savedSnapshot`, `compactTo`. This is the order of a Raft `Ready`.
 */
import type { GroupId } from "../../raft/Ids.js"
import { type Entry, emptyHardState, type HardState, type Index, type Term } from "../../raft/Types.js"
import { InvalidUpdate } from "../StoreErrors.js"
import type { Floor, SnapshotRef } from "./Codec.js"

/** What the store keeps in memory for each group: enough to plan writes without reading. */
export interface GroupMeta {
  readonly hardState: HardState
  readonly snapshot: SnapshotRef | undefined
  readonly floor: Floor
  readonly lastIndex: Index
}

/** The metadata of a group that has never been written. */
export const emptyMeta: GroupMeta = {
  hardState: emptyHardState,
  snapshot: undefined,
  floor: { index: 0, term: 0 },
  lastIndex: 0,
}

/**
 * One update, with its snapshots' data already written to the back end's snapshot area. A
 * caller's update without snapshots is one as it is (`install` and `save` absent).
 */
export interface PreparedUpdate {
  readonly groupId: GroupId
  readonly install?: SnapshotRef | undefined
  readonly entries?: ReadonlyArray<Entry> | undefined
  readonly hardState?: HardState | undefined
  readonly save?: SnapshotRef | undefined
  readonly compactTo?: Index | undefined
}

/** The physical operations a back end applies, in order, in one atomic batch. */
export type Op =
  | { readonly _tag: "PutEntries"; readonly groupId: GroupId; readonly entries: readonly Entry[] }
  /** Delete entries `from..to` (inclusive); they are all above the floor. */
  | { readonly _tag: "DeleteEntries"; readonly groupId: GroupId; readonly from: Index; readonly to: Index }
  | { readonly _tag: "PutHardState"; readonly groupId: GroupId; readonly hardState: HardState }
  | { readonly _tag: "PutSnapshot"; readonly groupId: GroupId; readonly ref: SnapshotRef }
  /** Move the floor up: entries at or below it are gone (a back end may delete them later). */
  | { readonly _tag: "PutFloor"; readonly groupId: GroupId; readonly floor: Floor }

/**
 * A group's metadata while batches are being planned, with the entries appended since the last
 * durable state (`run`, then the older drafts' runs) so that terms of not-yet-durable entries
 * can be looked up. The chain is cut where a snapshot was installed.
 */
export interface Draft {
  readonly meta: GroupMeta
  /** Cleared (with `older`) once the batch holding this draft is durable: see `settle`. */
  run: readonly Entry[] | undefined
  older: Draft | undefined
}

/**
 * Called when the batch holding `draft` (a group's last draft in it) is durable: its entries
 * can now be read from the store, so the chain is cut (drafts planned on top of it keep
 * pointing to it, and must not keep every older batch alive).
 */
export const settle = (draft: Draft): void => {
  draft.run = undefined
  draft.older = undefined
}

/** The draft of a group as durable: nothing appended on top. */
export const durableDraft = (meta: GroupMeta): Draft => ({ meta, run: undefined, older: undefined })

/** Reads the term of a committed entry (`floor.index < i <= lastIndex`); may throw a group error. */
export type ReadTerm = (groupId: GroupId, index: Index) => Term

const isCount = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0

const checkHardState = (groupId: GroupId, hs: HardState): InvalidUpdate | undefined =>
  isCount(hs.term) && isCount(hs.vote) && isCount(hs.commit)
    ? undefined
    : new InvalidUpdate({
        groupId,
        reason: `hard state fields must be non-negative safe integers, got ${JSON.stringify(hs)}`,
      })

const checkEntries = (groupId: GroupId, entries: readonly Entry[]): InvalidUpdate | undefined => {
  const first = entries[0]!.index
  if (!isCount(first) || first < 1)
    return new InvalidUpdate({ groupId, reason: `entry index must be a positive safe integer, got ${first}` })
  for (let k = 0; k < entries.length; k++) {
    const e = entries[k]!
    if (e.index !== first + k)
      return new InvalidUpdate({
        groupId,
        reason: `entries must be contiguous: expected index ${first + k}, got ${e.index}`,
      })
    if (!isCount(e.term) || !(e.type >= 0 && e.type <= 255 && Number.isInteger(e.type)))
      return new InvalidUpdate({ groupId, reason: `entry ${e.index} has an invalid term or type` })
  }
  return undefined
}

/** Undoes the operations planned so far for the refused update and says why. */
function refuse(ops: Op[], mark: number, groupId: GroupId, reason: string): InvalidUpdate {
  ops.length = mark
  return new InvalidUpdate({ groupId, reason })
}

const termAt = (
  groupId: GroupId,
  draft: Draft | undefined,
  floor: Floor,
  i: Index,
  readTerm: ReadTerm,
): Term => {
  if (i === floor.index) return floor.term
  for (let d = draft; d !== undefined; d = d.older) {
    const run = d.run
    if (run !== undefined && run[0]!.index <= i) return run[i - run[0]!.index]!.term
  }
  return readTerm(groupId, i)
}

/**
 * Plans `u` on top of `draft`: appends the physical operations to `ops` and returns the new
 * draft, or returns the reason the update is refused (then `ops` is left as it was).
 */
export const planUpdate = (
  draft: Draft,
  u: PreparedUpdate,
  ops: Op[],
  readTerm: ReadTerm,
): Draft | InvalidUpdate => {
  const groupId = u.groupId
  const mark = ops.length
  const before = draft.meta
  let { hardState, snapshot, floor, lastIndex } = before
  /** The entries planned before this update (cut at an installed snapshot). */
  let older: Draft | undefined = draft
  let run: readonly Entry[] | undefined

  if (u.install !== undefined) {
    const s = u.install.metadata
    const current = snapshot?.metadata.index ?? 0
    if (!isCount(s.index) || s.index < 1 || !isCount(s.term))
      return refuse(ops, mark, groupId, `snapshot index must be a positive safe integer, got ${s.index}`)
    if (s.index <= current)
      return refuse(
        ops,
        mark,
        groupId,
        `snapshot at index ${s.index} is not newer than the stored snapshot at ${current}`,
      )
    if (lastIndex > s.index) ops.push({ _tag: "DeleteEntries", groupId, from: s.index + 1, to: lastIndex })
    floor = { index: s.index, term: s.term }
    ops.push({ _tag: "PutSnapshot", groupId, ref: u.install }, { _tag: "PutFloor", groupId, floor })
    snapshot = u.install
    lastIndex = s.index
    older = undefined
  }

  if (u.entries !== undefined && u.entries.length > 0) {
    const bad = checkEntries(groupId, u.entries)
    if (bad !== undefined) return refuse(ops, mark, groupId, bad.reason)
    let ents = u.entries
    const last = ents[0]!.index + ents.length - 1
    if (last > floor.index) {
      if (ents[0]!.index <= floor.index) ents = ents.slice(floor.index - ents[0]!.index + 1)
      const at = ents[0]!.index
      if (at > lastIndex + 1)
        return refuse(
          ops,
          mark,
          groupId,
          `entries start at ${at} but the log ends at ${lastIndex}: that would leave a gap`,
        )
      const snapIndex = snapshot?.metadata.index ?? 0
      if (at <= snapIndex)
        return refuse(
          ops,
          mark,
          groupId,
          `entries starting at ${at} would replace entries covered by the snapshot at ${snapIndex}`,
        )
      ops.push({ _tag: "PutEntries", groupId, entries: ents })
      if (lastIndex > last) ops.push({ _tag: "DeleteEntries", groupId, from: last + 1, to: lastIndex })
      lastIndex = last
      run = ents
    }
  }

  if (u.hardState !== undefined) {
    const bad = checkHardState(groupId, u.hardState)
    if (bad !== undefined) return refuse(ops, mark, groupId, bad.reason)
    ops.push({ _tag: "PutHardState", groupId, hardState: u.hardState })
    hardState = u.hardState
  }

  const appended: Draft | undefined = run === undefined ? older : { meta: before, run, older }

  if (u.save !== undefined) {
    const s = u.save.metadata
    const current = snapshot?.metadata.index ?? 0
    if (!isCount(s.index) || s.index < 1)
      return refuse(ops, mark, groupId, `snapshot index must be a positive safe integer`)
    if (s.index <= current)
      return refuse(
        ops,
        mark,
        groupId,
        `snapshot at index ${s.index} is not newer than the stored snapshot at ${current}`,
      )
    if (s.index > lastIndex)
      return refuse(ops, mark, groupId, `snapshot at index ${s.index} is beyond the last index ${lastIndex}`)
    const term = termAt(groupId, appended, floor, s.index, readTerm)
    if (term !== s.term)
      return refuse(
        ops,
        mark,
        groupId,
        `snapshot at index ${s.index} has term ${s.term} but the log has term ${term} there`,
      )
    ops.push({ _tag: "PutSnapshot", groupId, ref: u.save })
    snapshot = u.save
  }

  if (u.compactTo !== undefined) {
    const i = u.compactTo
    if (!isCount(i))
      return refuse(ops, mark, groupId, `compaction index must be a non-negative safe integer, got ${i}`)
    if (i > floor.index) {
      const snapIndex = snapshot?.metadata.index ?? 0
      if (i > snapIndex)
        return refuse(
          ops,
          mark,
          groupId,
          `compacting to ${i} would discard entries that no snapshot covers (latest snapshot is at ${snapIndex})`,
        )
      const term = i === snapIndex ? snapshot!.metadata.term : termAt(groupId, appended, floor, i, readTerm)
      floor = { index: i, term }
      ops.push({ _tag: "PutFloor", groupId, floor })
    }
  }

  if (ops.length === mark) return draft
  return { meta: { hardState, snapshot, floor, lastIndex }, run, older }
}
