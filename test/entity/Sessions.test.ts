import { describe, expect, it } from "vitest"
import { Cbor } from "../../src/runtime/entity/index.js"
import { defaultLimits, SessionTable } from "../../src/runtime/entity/Sessions.js"

const limits = { maxSessions: 3, ttlMs: 1000, maxPending: 2 }
const reply = (n: number) => Uint8Array.of(1, 0, n)

describe("SessionTable", () => {
  it("assigns ids that never repeat, even for opens at one index", () => {
    const t = new SessionTable(limits)
    expect(t.open(5, 0)).toBe(5)
    expect(t.open(5, 0)).toBe(6)
    expect(t.open(3, 0)).toBe(7)
    expect(t.open(100, 0)).toBe(100)
  })

  it("applies a new seq once, answers a retry from the cache, refuses below the floor", () => {
    const t = new SessionTable(limits)
    const s = t.open(1, 0)
    expect(t.admit(s, 1, 0)).toEqual({ _tag: "Apply" })
    t.settle(s, 1, 0, 0, reply(1))
    expect(t.admit(s, 1, 0)).toEqual({ _tag: "Duplicate", reply: reply(1) })
    expect(t.admit(s, 2, 1)).toEqual({ _tag: "Apply" })
    t.settle(s, 2, 1, 0, reply(2))
    // ackedBelow 2: the reply of seq 1 is dropped and seq 1 is now stale.
    expect(t.admit(s, 2, 2)).toEqual({ _tag: "Duplicate", reply: reply(2) })
    t.settle(s, 2, 2, 0)
    expect(t.admit(s, 1, 1)).toMatchObject({ _tag: "Refuse", error: { _tag: "StaleSequence", floor: 2 } })
    expect(t.admit(99, 1, 0)).toMatchObject({
      _tag: "Refuse",
      error: { _tag: "SessionExpired", session: 99 },
    })
  })

  it("counts an acknowledgement before settling, but changes nothing until settled", () => {
    const t = new SessionTable(limits)
    const s = t.open(1, 0)
    t.settle(s, 1, 0, 0, reply(1))
    const before = Cbor.encode(t.toCbor())
    expect(t.admit(s, 1, 2)).toMatchObject({ _tag: "Refuse", error: { _tag: "StaleSequence", floor: 2 } })
    expect(t.admit(s, 5, 2)).toEqual({ _tag: "Apply" })
    expect(Cbor.encode(t.toCbor())).toEqual(before)
  })

  it("bounds the unacknowledged replies of a session; an acknowledgement frees room", () => {
    const t = new SessionTable(limits)
    const s = t.open(1, 0)
    for (const seq of [1, 2]) {
      expect(t.admit(s, seq, 0)._tag).toBe("Apply")
      t.settle(s, seq, 0, 0, reply(seq))
    }
    expect(t.admit(s, 3, 0)).toMatchObject({ _tag: "Refuse", error: { _tag: "TooManyPending", limit: 2 } })
    expect(t.admit(s, 3, 2)._tag).toBe("Apply")
  })

  it("drops the least recently used session beyond the bound", () => {
    const t = new SessionTable(limits)
    const [a, b, c] = [t.open(1, 0), t.open(2, 0), t.open(3, 0)]
    t.settle(a, 1, 0, 0, reply(1)) // a is now the most recently used
    const d = t.open(4, 0)
    expect([a, b, c, d].map((s) => t.has(s))).toEqual([true, false, true, true])
    expect(t.size).toBe(3)
  })

  it("a flood of opened sessions never evicts one that completed a command (issue 11, finding 7)", () => {
    const t = new SessionTable(defaultLimits)
    let index = 1
    const established = t.open(index++, 0)
    t.settle(established, 1, 0, 0, reply(1))
    // 10,500 sessions opened in 0.8 s and never used, as in the finding.
    const flood: number[] = []
    for (let i = 0; i < 10_500; i++) flood.push(t.open(index++, Math.floor((i * 800) / 10_500)))
    expect(t.size).toBe(defaultLimits.maxSessions)
    expect(t.admit(established, 1, 0)).toEqual({ _tag: "Duplicate", reply: reply(1) })
    expect(t.admit(established, 2, 1)).toEqual({ _tag: "Apply" })
    // The flood evicted its own oldest sessions, oldest first.
    expect(t.has(flood[0]!)).toBe(false)
    expect(t.has(flood.at(-1)!)).toBe(true)
    expect(t.freshCount).toBe(defaultLimits.maxSessions - 1)
  })

  it("drops the least recently used session once every session has completed a command", () => {
    const t = new SessionTable(limits)
    const [a, b, c] = [t.open(1, 0), t.open(2, 0), t.open(3, 0)]
    for (const s of [b, a, c]) t.settle(s, 1, 0, 0, reply(1))
    // Acknowledged replies leave the floor above 0: still a session that completed a command.
    t.settle(b, 2, 2, 0, reply(2))
    t.settle(b, 2, 3, 0)
    const d = t.open(4, 0)
    expect([a, b, c, d].map((s) => t.has(s))).toEqual([false, true, true, true])
    // d never completed a command: the next open evicts d, not an established session.
    const e = t.open(5, 0)
    expect([b, c, d, e].map((s) => t.has(s))).toEqual([true, true, false, true])
  })

  it("evicts alike after a snapshot round trip (which sessions are fresh is derived state)", () => {
    const t = new SessionTable(limits)
    const [a, b] = [t.open(1, 0), t.open(2, 0)]
    t.settle(a, 1, 0, 0, reply(1))
    const back = SessionTable.fromCbor(Cbor.decode(Cbor.encode(t.toCbor())), limits)
    expect(back.freshCount).toBe(1)
    for (const table of [t, back]) {
      table.open(3, 1)
      table.open(4, 1)
    }
    expect(Cbor.encode(back.toCbor())).toEqual(Cbor.encode(t.toCbor()))
    expect([a, b].map((s) => back.has(s))).toEqual([true, false])
  })

  it("expires sessions idle longer than the TTL on the shard clock", () => {
    const t = new SessionTable(limits)
    const a = t.open(1, 0)
    const b = t.open(2, 500)
    t.expire(1000)
    expect([t.has(a), t.has(b)]).toEqual([true, true])
    t.expire(1001)
    expect([t.has(a), t.has(b)]).toEqual([false, true])
    t.settle(b, 1, 0, 1400, reply(1))
    t.expire(2400)
    expect(t.has(b)).toBe(true)
    t.expire(2401)
    expect(t.has(b)).toBe(false)
    const noTtl = new SessionTable({ ...limits, ttlMs: 0 })
    const c = noTtl.open(1, 0)
    noTtl.expire(Number.MAX_SAFE_INTEGER)
    expect(noTtl.has(c)).toBe(true)
  })

  it("closes sessions", () => {
    const t = new SessionTable(limits)
    const a = t.open(1, 0)
    expect(t.close(a)).toBe(true)
    expect(t.close(a)).toBe(false)
    expect(t.admit(a, 1, 0)._tag).toBe("Refuse")
  })

  it("round-trips through CBOR in the same order, replies sorted by seq", () => {
    const t = new SessionTable(limits)
    const a = t.open(1, 10)
    const b = t.open(2, 20)
    t.settle(b, 5, 0, 30, reply(5))
    t.settle(b, 4, 0, 30, reply(4))
    const value = t.toCbor()
    expect(value).toEqual([
      b,
      [
        [a, 10, 0, []],
        [
          b,
          30,
          0,
          [
            [4, reply(4)],
            [5, reply(5)],
          ],
        ],
      ],
    ])
    const back = SessionTable.fromCbor(Cbor.decode(Cbor.encode(value)), limits)
    expect(Cbor.encode(back.toCbor())).toEqual(Cbor.encode(value))
    expect(back.admit(b, 4, 0)).toEqual({ _tag: "Duplicate", reply: reply(4) })
    expect(back.open(2, 40)).toBe(b + 1)
  })

  it("rejects inconsistent tables with a reason", () => {
    const bad: Array<[Cbor.CborValue, RegExp]> = [
      [[1], /pair/],
      [[-1, []], /lastId/],
      [[1, {}], /not an array/],
      [[1, [[2, 0, 0, []]]], /out of range/],
      [
        [
          2,
          [
            [1, 0, 0, []],
            [1, 0, 0, []],
          ],
        ],
        /twice/,
      ],
      [
        [
          2,
          [
            [1, 5, 0, []],
            [2, 4, 0, []],
          ],
        ],
        /non-decreasing/,
      ],
      [[1, [[1, 0, 3, [[2, reply(2)]]]]], /ascend/],
      [
        [
          1,
          [
            [
              1,
              0,
              0,
              [
                [2, reply(2)],
                [2, reply(2)],
              ],
            ],
          ],
        ],
        /ascend/,
      ],
      [[1, [[1, 0, 0, [[2, "x"]]]]], /byte string/],
    ]
    for (const [value, reason] of bad) expect(() => SessionTable.fromCbor(value, limits)).toThrow(reason)
  })
})
