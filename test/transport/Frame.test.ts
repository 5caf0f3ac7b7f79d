import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { GroupId, NodeId } from "../../src/raft/Ids.js"
import {
  MAX_INDEX,
  MAX_TERM,
  type Message,
  MessageType,
  newMessage,
  type ReplicaId,
} from "../../src/raft/Types.js"
import {
  clusterIdOf,
  decodeFrame,
  type Envelope,
  encodeFrame,
  encodeFrames,
  FRAME_HEADER_BYTES,
  type Frame,
  type FrameError,
  type FrameHeader,
} from "../../src/transport/Frame.js"
import { appends, framed, heartbeats, message } from "./arbitraries.js"

const N1 = 1 as NodeId
const N2 = 2 as NodeId
const R1 = 1 as ReplicaId
const R2 = 2 as ReplicaId
const header: FrameHeader = { clusterId: clusterIdOf("a"), from: N1, to: N2 }
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex").replace(/(..)/g, "$1 ").trim()
const fromHex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"))
const ok = (bytes: Uint8Array, expect?: { clusterId: number; to: NodeId }): Frame => {
  const r = decodeFrame(bytes, expect)
  if (Either.isLeft(r)) throw new Error(`expected a frame, got ${r.left.reason}: ${r.left.detail}`)
  return r.right
}
const err = (bytes: Uint8Array, expect?: { clusterId: number; to: NodeId }, max?: number): FrameError => {
  const r = decodeFrame(bytes, expect, max)
  if (Either.isRight(r)) throw new Error("expected a FrameError")
  return r.left
}
const HEADER_HEX = "46 4c 01 e4 0c 29 2c 00 01 00 02"
const hb = (groupId: number, term: number, commit: number): Envelope => ({
  groupId: groupId as GroupId,
  message: newMessage({ type: MessageType.Heartbeat, from: R1, to: R2, term, commit }),
})

describe("cluster id", () => {
  it("is 32-bit FNV-1a of the UTF-8 name (published test vectors)", () => {
    expect(clusterIdOf("")).toBe(0x811c9dc5)
    expect(clusterIdOf("a")).toBe(0xe40c292c)
    expect(clusterIdOf("foobar")).toBe(0xbf9cf968)
  })
})

describe("frame bytes", () => {
  it("encodes a heartbeat in 5 bytes after the 15-byte header, and a same-term one in 3", () => {
    const bytes = encodeFrame(header, [hb(7, 5, 300), hb(8, 5, 2)])
    expect(hex(bytes)).toBe(`${HEADER_HEX} 00 00 00 02 80 07 05 ac 02 84 08 02`)
    expect(ok(bytes).envelopes).toEqual([hb(7, 5, 300), hb(8, 5, 2)])
  })

  it("encodes heartbeat responses, contexts and replica generations in the compact record", () => {
    const resp: Envelope = {
      groupId: 1 as GroupId,
      message: newMessage({
        type: MessageType.HeartbeatResp,
        from: (3 * 65536 + 1) as ReplicaId,
        to: R2,
        term: 0,
        context: new Uint8Array([9, 8]),
      }),
    }
    const bytes = encodeFrame(header, [resp])
    // tag 0x80|resp|context|same-term (term 0 = initial)|generations, group 1, gens 0 and 3, commit 0, ctx
    expect(hex(bytes.subarray(FRAME_HEADER_BYTES))).toBe("8f 01 00 03 00 02 09 08")
    expect(ok(bytes).envelopes).toEqual([resp])
  })

  it("encodes a MsgApp as a general record with a presence mask and a compact entry", () => {
    const app: Envelope = {
      groupId: 1 as GroupId,
      message: newMessage({
        type: MessageType.App,
        from: R1,
        to: R2,
        term: 3,
        logTerm: 3,
        index: 10,
        commit: 9,
        entries: [{ term: 3, index: 11, type: 0, data: new Uint8Array([0xaa, 0xbb]) }],
      }),
    }
    const bytes = encodeFrame(header, [app])
    // type 3, group 1, mask 572 (term|logTerm|index|commit|entries), 3 3 10 9, 1 entry: flags 0, len 2
    expect(hex(bytes.subarray(FRAME_HEADER_BYTES))).toBe("03 01 bc 04 03 03 0a 09 01 00 02 aa bb")
    expect(ok(bytes).envelopes).toEqual([app])
  })

  it("spells out entry indexes and terms that do not follow, and the largest safe integer in 8 bytes", () => {
    const app: Envelope = {
      groupId: 0 as GroupId,
      message: newMessage({
        type: MessageType.App,
        from: R1,
        to: R2,
        index: 4,
        entries: [{ term: 2, index: 9, type: 1, data: new Uint8Array() }],
        commit: Number.MAX_SAFE_INTEGER,
      }),
    }
    const tail = hex(encodeFrame(header, [app]).subarray(FRAME_HEADER_BYTES))
    // mask = index|commit|entries = 16+32+512 = 560 = b0 04; entry flags = type 1|index|term = 0x0d
    expect(tail).toBe("03 00 b0 04 04 ff ff ff ff ff ff ff 0f 01 0d 09 02 00")
  })

  it("keeps envelope order, including heartbeats between other messages", () => {
    const list = [hb(1, 2, 3), ...appends(N1, N2, 2), hb(2, 2, 4)]
    expect(ok(encodeFrame(header, list)).envelopes).toEqual(list)
  })

  it("copies byte fields: a decoded message does not alias the frame buffer", () => {
    const app: Envelope = {
      groupId: 1 as GroupId,
      message: newMessage({
        type: MessageType.App,
        from: R1,
        to: R2,
        entries: [{ term: 1, index: 1, type: 0, data: new Uint8Array([1, 2, 3, 4]) }],
        context: new Uint8Array([5]),
      }),
    }
    const buf = Buffer.from(encodeFrame(header, [app]))
    const decoded = ok(buf).envelopes[0]!.message
    buf.fill(0)
    expect(decoded.entries[0]!.data).toEqual(new Uint8Array([1, 2, 3, 4]))
    expect(decoded.entries[0]!.data.constructor).toBe(Uint8Array)
    expect(decoded.context).toEqual(new Uint8Array([5]))
  })

  it("costs a few bytes per heartbeat: 10,000 groups between two nodes in one frame", () => {
    const bytes = encodeFrame(header, heartbeats(N1, N2, 10_000))
    const perHeartbeat = (bytes.length - FRAME_HEADER_BYTES) / 10_000
    expect(perHeartbeat).toBeLessThanOrEqual(6)
    expect(ok(bytes).envelopes).toHaveLength(10_000)
  })
})

describe("frame errors", () => {
  const good = encodeFrame(header, [hb(7, 5, 300), ...appends(N1, N2, 2, 3)])

  it("reports every strict prefix of a frame as truncated", () => {
    for (let n = 0; n < good.length; n++) expect(err(good.subarray(0, n)).reason).toBe("truncated")
  })

  it("refuses bad magic, other versions, node 0 and trailing bytes as malformed", () => {
    expect(err(fromHex("00 00 01")).detail).toMatch(/magic/)
    const v2 = good.slice()
    v2[2] = 2
    expect(err(v2)).toMatchObject({ reason: "malformed", detail: "unsupported frame version 2" })
    const node0 = good.slice()
    node0[7] = 0
    node0[8] = 0
    expect(err(node0).reason).toBe("malformed")
    const trailing = new Uint8Array([...good, 0])
    expect(err(trailing)).toMatchObject({ reason: "malformed", offset: good.length })
  })

  it("refuses frames of another cluster or for another node as foreign", () => {
    expect(err(good, { clusterId: clusterIdOf("b"), to: N2 }).reason).toBe("foreign")
    expect(err(good, { clusterId: clusterIdOf("a"), to: 3 as NodeId }).reason).toBe("foreign")
    expect(ok(good, { clusterId: clusterIdOf("a"), to: N2 }).envelopes).toHaveLength(3)
  })

  it("refuses a frame above the limit as oversized before reading it", () => {
    expect(err(good, undefined, good.length - 1)).toMatchObject({ reason: "oversized", offset: 0 })
    expect(ok(good).envelopes).toHaveLength(3)
  })

  it("refuses a record count the bytes cannot hold without allocating for it", () => {
    const huge = fromHex(`${HEADER_HEX} ff ff ff ff 80 01 01 01`)
    expect(err(huge).reason).toBe("truncated")
  })

  const record = (tail: string) => fromHex(`${HEADER_HEX} 00 00 00 01 ${tail}`)
  it.each([
    ["unknown record tag", "90 01 01 01"],
    ["a local message type (MsgHup)", "00 01 00"],
    ["an unknown message type", "14 01 00"],
    ["unknown mask bits", "03 01 80 20"],
    ["a non-minimal varint", "80 81 00 05 01"],
    ["a varint above 2^53-1", "80 01 ff ff ff ff ff ff ff 10 01"],
    ["a varint longer than 8 bytes", "80 01 ff ff ff ff ff ff ff ff 01 01"],
    ["a group id above 2^32-1", "80 80 80 80 80 10 01 01"],
    ["bad entry flags", "03 01 80 04 01 30 00"],
    ["an entry type that does not exist", "03 01 80 04 01 02 00"],
    ["an empty entry list", "03 01 80 04 00"],
    ["a chunk overrunning its snapshot", "07 01 80 08 01 01 00 00 00 00 00 05 06 02 aa bb"],
    ["replica id 0 in a configuration", "07 01 80 08 01 01 01 00 00 00 00 00 00 00 00"],
    ["an autoLeave byte other than 0 or 1", "07 01 80 08 01 01 00 00 00 00 02 00 00 00"],
  ])("refuses %s as malformed", (_what, tail) => {
    expect(err(record(tail)).reason).toBe("malformed")
  })

  it("accepts the well-formed neighbours of those records", () => {
    expect(
      ok(record("07 01 80 08 01 01 00 00 00 00 00 05 07 02 aa bb")).envelopes[0]!.message.snapshot,
    ).toMatchObject({
      offset: 5,
      totalBytes: 7,
    })
    expect(ok(record("80 ff ff ff ff 0f 01 01")).envelopes[0]!.groupId).toBe(0xffffffff)
  })
})

describe("encoder contracts", () => {
  it("throws on bugs: local types, replicas on other nodes, negative or unsafe numbers", () => {
    const m = (init: Partial<Parameters<typeof newMessage>[0]>) => [
      { groupId: 1 as GroupId, message: newMessage({ type: MessageType.App, from: R1, to: R2, ...init }) },
    ]
    expect(() => encodeFrame(header, m({ type: MessageType.Hup }))).toThrow(RangeError)
    expect(() => encodeFrame(header, m({ to: 3 as ReplicaId }))).toThrow(/not on node 2/)
    expect(() => encodeFrame(header, m({ from: R2 }))).toThrow(/not on node 1/)
    expect(() => encodeFrame(header, m({ term: -1 }))).toThrow(RangeError)
    expect(() => encodeFrame(header, m({ commit: 2 ** 53 }))).toThrow(RangeError)
    expect(() => encodeFrame(header, m({ commit: 1.5 }))).toThrow(RangeError)
  })

  it("splits at the limit, in order, each frame decodable on its own", () => {
    const list = [...heartbeats(N1, N2, 3_000), ...appends(N1, N2, 50)]
    const { frames, oversized } = encodeFrames(header, list, 4_096)
    expect(oversized).toEqual([])
    expect(frames.length).toBeGreaterThan(4)
    for (const f of frames) expect(f.length).toBeLessThanOrEqual(4_096)
    expect(frames.flatMap((f) => ok(f).envelopes)).toEqual(list)
    expect(encodeFrames(header, list, 10_000_000).frames).toHaveLength(1)
  })

  it("reports a message that fits in no frame and sends the rest", () => {
    const list = [...appends(N1, N2, 2, 10), ...appends(N1, N2, 1, 5_000), hb(9, 1, 1)]
    const { frames, oversized } = encodeFrames(header, list, 1_000)
    expect(oversized).toEqual([list[2]])
    expect(frames.flatMap((f) => ok(f).envelopes)).toEqual([list[0], list[1], list[3]])
  })
})

describe("frame properties", () => {
  it("round-trips every message exactly", () => {
    fc.assert(
      fc.property(framed(), fc.nat(), ({ from, to, envelopes }, cluster) => {
        const h = { clusterId: cluster >>> 0, from, to }
        const frame = ok(encodeFrame(h, envelopes), { clusterId: h.clusterId, to })
        expect(frame).toEqual({ ...h, envelopes })
      }),
      { numRuns: 400 },
    )
  })

  it("splits into frames under any limit that round-trip in order", () => {
    fc.assert(
      fc.property(framed(), fc.integer({ min: 64, max: 2_000 }), ({ from, to, envelopes }, limit) => {
        const h = { clusterId: 1, from, to }
        const { frames, oversized } = encodeFrames(h, envelopes, limit)
        for (const f of frames) expect(f.length).toBeLessThanOrEqual(limit)
        const back = frames.flatMap((f) => ok(f).envelopes)
        expect(back).toEqual(envelopes.filter((e) => !oversized.includes(e)))
      }),
      { numRuns: 200 },
    )
  })

  it("never throws on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        decodeFrame(bytes)
        decodeFrame(new Uint8Array([0x46, 0x4c, 0x01, ...bytes]))
      }),
      { numRuns: 2_000 },
    )
  })

  it("never throws on mutated frames, and whatever it accepts re-encodes to the same messages", () => {
    const mutation = fc.oneof(
      fc.record({
        kind: fc.constant("flip" as const),
        at: fc.nat(),
        value: fc.integer({ min: 0, max: 255 }),
      }),
      fc.record({
        kind: fc.constant("insert" as const),
        at: fc.nat(),
        value: fc.integer({ min: 0, max: 255 }),
      }),
      fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), value: fc.constant(0) }),
    )
    fc.assert(
      fc.property(
        framed(),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        ({ from, to, envelopes }, muts) => {
          const bytes = [...encodeFrame({ clusterId: 7, from, to }, envelopes)]
          for (const m of muts) {
            const at = m.at % (bytes.length + 1)
            if (m.kind === "flip") bytes[Math.min(at, bytes.length - 1)] = m.value
            else if (m.kind === "insert") bytes.splice(at, 0, m.value)
            else bytes.splice(at, 1)
          }
          const r = decodeFrame(Uint8Array.from(bytes))
          if (Either.isRight(r)) {
            const f = r.right
            expect(ok(encodeFrame(f, f.envelopes)).envelopes).toEqual(f.envelopes)
          }
        },
      ),
      { numRuns: 1_000 },
    )
  })
})

describe("range checks at the boundary (issue 11, finding 1)", () => {
  const numericFields = ["term", "logTerm", "index", "commit", "rejectHint", "hintTerm"] as const
  const limitOf = (f: (typeof numericFields)[number]) =>
    f === "term" || f === "logTerm" || f === "hintTerm" ? MAX_TERM : MAX_INDEX

  it("refuses the forged huge-term vote as malformed", () => {
    const vote = newMessage({
      type: MessageType.Vote,
      from: R1,
      to: R2,
      term: 2 ** 53 - 1,
      logTerm: 1,
      index: 1,
    })
    const e = err(encodeFrame(header, [{ groupId: 3 as GroupId, message: vote }]))
    expect(e.reason).toBe("malformed")
    expect(e.detail).toMatch(/term/)
  })

  it("refuses any field above its bound, accepts it at the bound", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...numericFields),
        fc.integer({ min: 1, max: 2 ** 40 }),
        fc.boolean(),
        (field, over, heartbeatForm) => {
          const limit = limitOf(field)
          const type = heartbeatForm ? MessageType.Heartbeat : MessageType.App
          const at = newMessage({ type, from: R1, to: R2, term: 5, [field]: limit })
          const atBound = [{ groupId: 1 as GroupId, message: at }]
          expect(ok(encodeFrame(header, atBound)).envelopes).toEqual(atBound)
          const value = Math.min(limit + over, Number.MAX_SAFE_INTEGER)
          const beyond = { ...at, [field]: value } as Message
          const e = err(encodeFrame(header, [{ groupId: 1 as GroupId, message: beyond }]))
          expect(e.reason).toBe("malformed")
        },
      ),
      { numRuns: 300 },
    )
  })

  it("whatever it decodes, the core's derived values (term + 1, index + entries) still encode", () => {
    fc.assert(
      fc.property(framed(), ({ from, to, envelopes }) => {
        const f = ok(encodeFrame({ clusterId: 1, from, to }, envelopes))
        const bumped = f.envelopes.map((e) => ({
          groupId: e.groupId,
          message: newMessage({
            ...e.message,
            term: e.message.term + 1,
            index: e.message.index + e.message.entries.length + 1,
            commit: e.message.commit + 1,
          }),
        }))
        const split = encodeFrames({ clusterId: 1, from, to }, bumped, 1 << 24)
        expect(split.invalid).toEqual([])
      }),
      { numRuns: 300 },
    )
  })

  it("encodeFrames leaves out what it cannot encode instead of throwing, and sends the rest", () => {
    fc.assert(
      fc.property(
        fc.array(message(N1, N2), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        fc.constantFrom(2 ** 53, -1, 1.5, Number.NaN),
        (messages, pick, bad) => {
          const list = messages.map((message, i) => ({ groupId: i as GroupId, message }))
          const victim = pick % list.length
          list[victim] = { groupId: victim as GroupId, message: { ...list[victim]!.message, term: bad } }
          const split = encodeFrames(header, list, 1 << 24)
          expect(split.invalid.map((i) => i.envelope)).toEqual([list[victim]])
          expect(split.frames.flatMap((fr) => ok(fr).envelopes)).toEqual(list.filter((_, i) => i !== victim))
        },
      ),
      { numRuns: 200 },
    )
  })
})
