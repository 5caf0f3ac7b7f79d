/**
 * Human-readable, stable, one-line-per-item descriptions of the core's data: entries,
 * messages, hard and soft state, snapshots and whole `Ready`s. Scenario files (datadriven
 * tests) print their golden output with these; logs and debuggers may use them too. The format
 * follows etcd-io/raft's describers (`1->2 MsgApp Term:1 Log:1/5 Commit:5 Entries:[...]`) so
 * scenarios read alike.
 */
import { decodeConfChange, describeConfChange } from "./ConfChange.js"
import type { Ready } from "./RawNode.js"
import { describeConfig } from "./Tracker.js"
import {
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  messageTypeName,
  type Snapshot,
  type SnapshotChunk,
  type SoftState,
  stateTypeName,
} from "./Types.js"

const isPrintable = (data: Uint8Array): boolean => {
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!
    if (b < 0x20 || b > 0x7e) return false
  }
  return true
}

/** Bytes as a quoted string when printable ASCII, else as `0x` hex. */
export const describeBytes = (data: Uint8Array): string => {
  if (isPrintable(data)) {
    let s = ""
    for (let i = 0; i < data.length; i++) s += String.fromCharCode(data[i]!)
    return JSON.stringify(s)
  }
  let hex = "0x"
  for (let i = 0; i < data.length; i++) hex += data[i]!.toString(16).padStart(2, "0")
  return hex
}

/** `term/index EntryNormal "data"`, or `term/index EntryConfChange v4 r1` for a membership change. */
export const describeEntry = (e: Entry): string => {
  if (e.type === EntryType.ConfChange) {
    const cc = decodeConfChange(e.data)
    return `${e.term}/${e.index} EntryConfChange ${cc ? describeConfChange(cc) : `malformed ${describeBytes(e.data)}`}`
  }
  if (e.type === EntryType.Normal) return `${e.term}/${e.index} EntryNormal ${describeBytes(e.data)}`
  return `${e.term}/${e.index} Entry(${String(e.type)}) ${describeBytes(e.data)}`
}

export const describeEntries = (ents: readonly Entry[]): string => ents.map(describeEntry).join(", ")

export const describeHardState = (hs: HardState): string =>
  `Term:${hs.term} Vote:${hs.vote} Commit:${hs.commit}`

export const describeSoftState = (ss: SoftState): string =>
  `Lead:${ss.lead} State:${stateTypeName(ss.raftState)}`

export const describeConfState = (cs: ConfState): string =>
  describeConfig({
    incoming: cs.voters,
    outgoing: cs.votersOutgoing,
    learners: cs.learners,
    learnersNext: cs.learnersNext,
    autoLeave: cs.autoLeave,
  })

export const describeSnapshot = (s: Snapshot): string =>
  `Index:${s.metadata.index} Term:${s.metadata.term} ConfState:${describeConfState(s.metadata.confState)} Data:${s.data.length}B`

const describeChunk = (c: SnapshotChunk): string =>
  `Snapshot[Index:${c.metadata.index} Term:${c.metadata.term} Bytes:${c.offset}+${c.data.length}/${c.totalBytes}]`

/** One line: `from->to Type Term:t Log:logTerm/index Commit:c` and the fields the type uses. */
export const describeMessage = (m: Message): string => {
  let s = `${m.from}->${m.to} ${messageTypeName(m.type)} Term:${m.term} Log:${m.logTerm}/${m.index}`
  if (m.commit !== 0) s += ` Commit:${m.commit}`
  if (m.reject) s += " Rejected"
  if (m.rejectHint !== 0 || m.hintTerm !== 0) {
    s += m.type === MessageType.SnapResp ? ` Held:${m.rejectHint}` : ` (Hint: ${m.rejectHint}/${m.hintTerm})`
  }
  if (m.entries.length > 0) s += ` Entries:[${describeEntries(m.entries)}]`
  if (m.snapshot !== undefined) s += ` ${describeChunk(m.snapshot)}`
  if (m.context !== undefined && m.context.length > 0) s += ` Context:${describeBytes(m.context)}`
  return s
}

/**
 * A multi-line description of a Ready, listing only what it carries: soft and hard state,
 * entries to persist, snapshot, committed entries, messages (sent at once) and persisted
 * messages (sent after the write), read states, and whether the write must be synced.
 */
export const describeReady = (rd: Ready): string => {
  const lines: string[] = []
  if (rd.softState) lines.push(describeSoftState(rd.softState))
  if (rd.hardState) lines.push(`HardState ${describeHardState(rd.hardState)}`)
  if (rd.entries.length > 0) {
    lines.push("Entries:")
    for (const e of rd.entries) lines.push(`  ${describeEntry(e)}`)
  }
  if (rd.snapshot) lines.push(`Snapshot ${describeSnapshot(rd.snapshot)}`)
  if (rd.committedEntries.length > 0) {
    lines.push("CommittedEntries:")
    for (const e of rd.committedEntries) lines.push(`  ${describeEntry(e)}`)
  }
  if (rd.messages.length > 0) {
    lines.push("Messages:")
    for (const m of rd.messages) lines.push(`  ${describeMessage(m)}`)
  }
  if (rd.persistedMessages.length > 0) {
    lines.push("PersistedMessages:")
    for (const m of rd.persistedMessages) lines.push(`  ${describeMessage(m)}`)
  }
  if (rd.readStates.length > 0) {
    lines.push("ReadStates:")
    for (const r of rd.readStates) lines.push(`  Index:${r.index} Context:${describeBytes(r.requestCtx)}`)
  }
  if (rd.mustSync) lines.push("MustSync")
  return lines.length === 0 ? "<empty Ready>" : lines.join("\n")
}
