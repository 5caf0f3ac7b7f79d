/**
 * The ConfChange codec: round trips, canonical encodings, and malformed bytes (random,
 * truncated, corrupted) decoding to `undefined` without ever throwing.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  confChange,
  decodeConfChange,
  describeConfChange,
  encodeConfChange,
  entersJoint,
  isLeaveJoint,
  leaveJoint,
} from "../../src/raft/ConfChange.js"
import type { ReplicaId } from "../../src/raft/Types.js"

const change = fc.record({
  type: fc.constantFrom(ConfChangeType.AddNode, ConfChangeType.RemoveNode, ConfChangeType.AddLearner),
  nodeId: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }).map((n) => n as ReplicaId),
})
const cc: fc.Arbitrary<ConfChange> = fc.record({
  transition: fc.constantFrom(
    ConfChangeTransition.Auto,
    ConfChangeTransition.JointImplicit,
    ConfChangeTransition.JointExplicit,
  ),
  changes: fc.array(change, { maxLength: 6 }),
  context: fc.uint8Array({ maxLength: 40 }),
})

describe("ConfChange codec", () => {
  it("round-trips every well-formed change", () => {
    fc.assert(
      fc.property(cc, (c) => {
        const back = decodeConfChange(encodeConfChange(c))
        expect(back).toEqual(c)
      }),
      { numRuns: 500 },
    )
  })

  it("decodes random bytes to undefined or to a change that re-encodes to the same bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        const c = decodeConfChange(bytes)
        if (c !== undefined) expect(encodeConfChange(c)).toEqual(bytes)
      }),
      { numRuns: 2_000 },
    )
  })

  it("rejects truncated, extended and corrupted encodings", () => {
    fc.assert(
      fc.property(cc, fc.nat(), fc.integer({ min: 0, max: 255 }), (c, at, value) => {
        const bytes = encodeConfChange(c)
        for (let n = 0; n < bytes.length; n++) expect(decodeConfChange(bytes.subarray(0, n))).toBeUndefined()
        const longer = new Uint8Array(bytes.length + 1)
        longer.set(bytes)
        expect(decodeConfChange(longer)).toBeUndefined()
        // Any single corrupted byte yields undefined or a different, well-formed change.
        const bad = bytes.slice()
        bad[at % bad.length] = value
        const d = decodeConfChange(bad)
        if (d !== undefined) expect(encodeConfChange(d)).toEqual(bad)
      }),
      { numRuns: 200 },
    )
  })

  it("rejects each malformed field", () => {
    const good = encodeConfChange(confChange([{ type: ConfChangeType.AddNode, nodeId: 7 as ReplicaId }]))
    const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength)
    const mutate = (f: (v: DataView) => void) => {
      const b = good.slice()
      f(view(b))
      return decodeConfChange(b)
    }
    expect(decodeConfChange(good)).toBeDefined()
    expect(mutate((v) => v.setUint8(0, 2))).toBeUndefined() // version
    expect(mutate((v) => v.setUint8(1, 3))).toBeUndefined() // transition
    expect(mutate((v) => v.setUint16(2, 2))).toBeUndefined() // count beyond the data
    expect(mutate((v) => v.setUint8(4, 3))).toBeUndefined() // change type
    for (const id of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(mutate((v) => v.setFloat64(5, id))).toBeUndefined() // node id
    }
    expect(mutate((v) => v.setUint32(13, 1))).toBeUndefined() // context length
    expect(decodeConfChange(new Uint8Array(0))).toBeUndefined()
    // A view into a larger buffer decodes the same as a copy.
    const padded = new Uint8Array(good.length + 10)
    padded.set(good, 5)
    expect(decodeConfChange(padded.subarray(5, 5 + good.length))).toEqual(decodeConfChange(good))
  })

  it("decides joint consensus as etcd does", () => {
    const one = [{ type: ConfChangeType.AddNode, nodeId: 4 as ReplicaId }]
    const two = [...one, { type: ConfChangeType.RemoveNode, nodeId: 1 as ReplicaId }]
    expect(entersJoint(confChange(one))).toEqual({ joint: false, autoLeave: false })
    expect(entersJoint(confChange(two))).toEqual({ joint: true, autoLeave: true })
    expect(entersJoint(confChange(one, ConfChangeTransition.JointImplicit))).toEqual({
      joint: true,
      autoLeave: true,
    })
    expect(entersJoint(confChange(two, ConfChangeTransition.JointExplicit))).toEqual({
      joint: true,
      autoLeave: false,
    })
    expect(isLeaveJoint(leaveJoint())).toBe(true)
    expect(isLeaveJoint(confChange(one))).toBe(false)
    expect(describeConfChange(confChange(two, ConfChangeTransition.JointExplicit))).toBe("v4 r1 (explicit)")
    expect(describeConfChange(leaveJoint())).toBe("leave-joint")
  })
})
