import { describe, expect, it } from "vitest"
import { ConfChangeType, encodeConfChange } from "../../src/raft/ConfChange.js"
import { RawNode } from "../../src/raft/RawNode.js"
import { MemoryStorage } from "../../src/raft/Storage.js"
import { type Entry, EntryType, ReplicaId } from "../../src/raft/Types.js"

const normal = (index: number, term = 1): Entry => ({
  index,
  term,
  type: EntryType.Normal,
  data: new Uint8Array([index]),
})

/** A stored log 1..10 with a snapshot at 7 and entries 1..10 kept (as the runtime keeps some behind). */
const storedLog = () => {
  const s = new MemoryStorage()
  const cc = (id: number, index: number): Entry => ({
    index,
    term: 1,
    type: EntryType.ConfChange,
    data: encodeConfChange({
      transition: 0,
      changes: [{ type: ConfChangeType.AddNode, nodeId: ReplicaId(id) }],
      context: new Uint8Array(0),
    }),
  })
  s.append([cc(1, 1), ...[2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => normal(i))])
  s.setHardState({ term: 1, vote: ReplicaId(1), commit: 10 })
  s.createSnapshot(
    7,
    { voters: [ReplicaId(1)], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
    new Uint8Array([7]),
  )
  return s
}

describe("restart with entries kept behind the snapshot", () => {
  it("applies from just after the snapshot, not from the first kept entry", () => {
    const storage = storedLog()
    expect(storage.firstIndex()).toBe(1)
    const node = RawNode.create({ id: ReplicaId(1), storage })
    expect(node.appliedIndex).toBe(7)
    const rd = node.ready()
    expect(rd.committedEntries.map((e) => e.index)).toEqual([8, 9, 10])
    expect(node.lastConfChangeError()).toBeUndefined()
  })

  it("honours an explicit applied index at or above the snapshot, and refuses one below it", () => {
    expect(
      RawNode.create({ id: ReplicaId(1), storage: storedLog(), applied: 9 })
        .ready()
        .committedEntries.map((e) => e.index),
    ).toEqual([10])
    expect(() => RawNode.create({ id: ReplicaId(1), storage: storedLog(), applied: 3 })).toThrow(RangeError)
  })
})
