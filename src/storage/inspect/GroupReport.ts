/**
 * One group's part of an inspection report, made from what the record scan found and the
 * check of its snapshot file: hard state, log floor and range, sizes, snapshot metadata, and
 * the configuration the group restarts with (`ConfReplay.ts`).
 */
import { describeConfChange } from "../../raft/ConfChange.js"
import type { GroupId } from "../../raft/Ids.js"
import type { ConfState, Entry, HardState, Index, Term } from "../../raft/Types.js"
import { dataCrc, type Floor } from "../internal/Codec.js"
import type { SnapshotFiles } from "../internal/SnapshotFiles.js"
import { replayConfChanges } from "./ConfReplay.js"
import type { Problem, ScannedGroup } from "./RecordScan.js"

/** A group's stored snapshot, as its record describes it. */
export interface SnapshotInfo {
  readonly index: Index
  readonly term: Term
  /** Bytes of the snapshot's data. */
  readonly size: number
  readonly file: string
  readonly confState: ConfState
}

/** A conf-change entry of the log. */
export interface ConfChangeInfo {
  readonly index: Index
  readonly change: string
  /** At or below the commit index: part of the configuration the group restarts with. */
  readonly committed: boolean
  /** Why the core ignores this committed change (as it did when it applied it), if it does. */
  readonly refused?: string
}

/** What the store holds of one group. */
export interface GroupReport {
  readonly groupId: GroupId
  /** Absent when the group never stored one (all zero for the core). */
  readonly hardState: HardState | undefined
  /** The entry just before the first one held (0/0 for a log never compacted). */
  readonly floor: Floor
  /** The log's range: `firstIndex .. lastIndex`, empty when `lastIndex < firstIndex`. */
  readonly firstIndex: Index
  readonly lastIndex: Index
  readonly entries: number
  /** Bytes of the stored entry values (13-byte header and data; keys not counted). */
  readonly entryBytes: number
  /** Entries at or below the floor, kept until a background sweep deletes them. */
  readonly belowFloor: number
  readonly snapshot: SnapshotInfo | undefined
  /** The snapshot's configuration with the committed conf changes after it applied. */
  readonly confState: ConfState
  readonly confChanges: ReadonlyArray<ConfChangeInfo>
  /** The entries asked for, in index order. */
  readonly selected: ReadonlyArray<Entry>
}

const EMPTY_CONF: ConfState = {
  voters: [],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
}

/** Reads and checks the snapshot file `g` points to; a failure is added to `problems`. */
export const checkSnapshotFile = async (
  g: ScannedGroup,
  files: SnapshotFiles,
  problems: Problem[],
): Promise<boolean> => {
  const ref = g.snapshot
  if (ref === undefined) return false
  const bad = (detail: string) =>
    problems.push({ group: g.groupId, record: "snapshotFile", index: ref.metadata.index, detail })
  try {
    const data = await files.read(g.groupId, ref)
    if (dataCrc(data) !== ref.crc) bad(`${ref.file}: data checksum mismatch`)
  } catch (e) {
    bad(e !== null && typeof e === "object" && "detail" in e ? `${ref.file}: ${String(e.detail)}` : String(e))
  }
  return true
}

/** The report of one scanned group. */
export const groupReport = (g: ScannedGroup, problems: Problem[]): GroupReport => {
  const floor = g.floor ?? { index: 0, term: 0 }
  const lastIndex = Math.max(floor.index, g.lastIndex ?? 0)
  const commit = g.hardState?.commit ?? 0
  if (commit > lastIndex)
    problems.push({
      group: g.groupId,
      record: "hardState",
      index: undefined,
      detail: `commit ${commit} is beyond the last index ${lastIndex}`,
    })
  const from = g.snapshot?.metadata.index ?? 0
  const replayed = replayConfChanges(
    g.snapshot?.metadata.confState ?? EMPTY_CONF,
    g.confChanges.filter((c) => c.index > from && c.index <= commit),
  )
  const refused = new Map(replayed.refused.map((r) => [r.index, r.reason]))
  const s = g.snapshot
  return {
    groupId: g.groupId,
    hardState: g.hardState,
    floor,
    firstIndex: floor.index + 1,
    lastIndex,
    entries: g.entries,
    entryBytes: g.entryBytes,
    belowFloor: g.belowFloor,
    snapshot:
      s === undefined
        ? undefined
        : {
            index: s.metadata.index,
            term: s.metadata.term,
            size: s.size,
            file: s.file,
            confState: s.metadata.confState,
          },
    confState: replayed.confState,
    confChanges: g.confChanges.map((c) => ({
      index: c.index,
      change: describeConfChange(c.change),
      committed: c.index <= commit,
      ...(refused.has(c.index) ? { refused: refused.get(c.index) } : {}),
    })),
    selected: g.selected,
  }
}
