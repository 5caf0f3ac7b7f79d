/**
 * The pure parts of the real-process nemesis (src/testing/Nemesis*.ts): the seeded schedule,
 * the meaning of gateway replies, the count of acknowledged writes lost, recovery times, the
 * dead-loop lines and the command-line flags. The runner itself is exercised by
 * Nemesis.test.ts (the `process` project).
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { CasInput, CasOutput, Operation } from "../../src/testing/Linearizability.js"
import { deadLoopLines, replayCommand } from "../../src/testing/Nemesis.js"
import { parseNemesisArgs } from "../../src/testing/NemesisArgs.js"
import { classifyReply, lostWrites, quantile, recoveryTimes } from "../../src/testing/NemesisHistory.js"
import { FAULT_KINDS, planFaults } from "../../src/testing/NemesisSchedule.js"

type Op = Operation<CasInput, CasOutput>
const INF = Number.POSITIVE_INFINITY
const put = (key: string, value: string, invokedAt: number, completedAt: number): Op => ({
  client: 0,
  input: { op: "put", key, value },
  output: completedAt === INF ? undefined : { ok: true },
  invokedAt,
  completedAt,
})

describe("the fault schedule", () => {
  it("replays from its seed and differs across seeds", () => {
    const a = planFaults({ seed: 42, nodes: 3, faultWindowMs: 60_000 })
    expect(planFaults({ seed: 42, nodes: 3, faultWindowMs: 60_000 })).toEqual(a)
    expect(planFaults({ seed: 43, nodes: 3, faultWindowMs: 60_000 })).not.toEqual(a)
  })

  it("deals every kind in each round, on existing nodes, within the bounds", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 3, max: 7 }), (seed, nodes) => {
        const plan = planFaults({ seed, nodes, faultWindowMs: 120_000 })
        expect(plan.length).toBeGreaterThanOrEqual(FAULT_KINDS.length)
        for (let r = 0; r + FAULT_KINDS.length <= plan.length; r += FAULT_KINDS.length)
          expect(new Set(plan.slice(r, r + FAULT_KINDS.length).map((f) => f.kind)).size).toBe(
            FAULT_KINDS.length,
          )
        for (const f of plan) {
          expect(f.gapMs).toBeGreaterThanOrEqual(2000)
          expect(f.gapMs).toBeLessThanOrEqual(5000)
          expect(f.durationMs).toBeGreaterThanOrEqual(1000)
          expect(f.durationMs).toBeLessThanOrEqual(3000)
          if (f.kind === "kill" || f.kind === "pause") {
            expect(f.node).toBeGreaterThanOrEqual(1)
            expect(f.node).toBeLessThanOrEqual(nodes)
          } else expect(f.node).toBe(0)
        }
      }),
    )
  })

  it("keeps to the kinds asked for", () => {
    const plan = planFaults({ seed: 1, nodes: 3, faultWindowMs: 60_000, kinds: ["pause"] })
    expect(plan.length).toBeGreaterThan(0)
    expect(plan.every((f) => f.kind === "pause")).toBe(true)
    expect(planFaults({ seed: 1, nodes: 3, faultWindowMs: 60_000, kinds: [] })).toEqual([])
  })
})

describe("gateway replies", () => {
  const get: CasInput = { op: "get", key: "k" }
  const cas: CasInput = { op: "cas", key: "k", expected: "a", value: "b" }
  it("ok answers and Conflict are definite", () => {
    expect(classifyReply(get, { ok: true, value: "x" })).toEqual({ outcome: "ok", output: { value: "x" } })
    expect(classifyReply(get, { ok: true, value: null })).toEqual({ outcome: "ok", output: { value: null } })
    expect(classifyReply(cas, { ok: true })).toEqual({ outcome: "ok", output: { ok: true } })
    expect(classifyReply(cas, { ok: false, error: "Conflict", current: "z" })).toEqual({
      outcome: "ok",
      output: { ok: false, current: "z" },
    })
  })
  it("refusals wrote nothing; timeouts, internal errors and silence may have written", () => {
    for (const error of ["BadRequest", "Unavailable", "NotUtf8"])
      expect(classifyReply(cas, { ok: false, error }).outcome).toBe("fail")
    for (const error of ["Timeout", "Internal", "SomethingNew"])
      expect(classifyReply(cas, { ok: false, error }).outcome).toBe("unknown")
    expect(classifyReply(cas, undefined).outcome).toBe("unknown")
    // A malformed success is not taken at its word.
    expect(classifyReply(get, { ok: true, value: 3 }).outcome).toBe("unknown")
  })
})

describe("acknowledged writes lost", () => {
  it("none when the final value is the last acknowledged write", () => {
    const h = [put("k", "a", 0, 10), put("k", "b", 20, 30)]
    expect(lostWrites(h, new Map([["k", "b"]])).lost).toEqual([])
  })
  it("a later acknowledged write that the final value predates is lost", () => {
    const h = [put("k", "a", 0, 10), put("k", "b", 20, 30)]
    expect(lostWrites(h, new Map([["k", "a"]])).lost).toEqual([h[1]])
  })
  it("concurrent writes may land in either order", () => {
    const h = [put("k", "a", 0, 30), put("k", "b", 10, 20)]
    expect(lostWrites(h, new Map([["k", "a"]])).lost).toEqual([])
    expect(lostWrites(h, new Map([["k", "b"]])).lost).toEqual([])
  })
  it("a write of unknown outcome explains any final value; it is never counted lost", () => {
    const h = [put("k", "a", 0, 10), put("k", "u", 5, INF), put("k", "b", 20, 30)]
    expect(lostWrites(h, new Map([["k", "u"]])).lost).toEqual([])
    expect(lostWrites(h, new Map([["k", "b"]])).lost).toEqual([])
  })
  it("an absent key or a value nobody wrote loses every acknowledged write", () => {
    const h = [put("k", "a", 0, 10), put("k", "b", 20, 30)]
    expect(lostWrites(h, new Map([["k", null]])).lost).toHaveLength(2)
    expect(lostWrites(h, new Map([["k", "zz"]])).lost).toHaveLength(2)
  })
  it("failed compare-and-sets wrote nothing; keys never read back are reported", () => {
    const failed: Op = {
      client: 1,
      input: { op: "cas", key: "k", expected: "x", value: "c" },
      output: { ok: false, current: "a" },
      invokedAt: 40,
      completedAt: 50,
    }
    const h = [put("k", "a", 0, 10), failed, put("j", "q", 0, 1)]
    expect(lostWrites(h, new Map([["k", "a"]]))).toEqual({ lost: [], unread: ["j"] })
  })
})

describe("recovery times", () => {
  it("is the time from a heal to the next success before the next fault", () => {
    const h = [put("k", "a", 0, 5), put("k", "b", 90, 130), put("k", "c", 100, INF), put("k", "d", 300, 350)]
    const faults = [
      { kind: "kill", node: 1, startedAt: 10, healedAt: 100 },
      { kind: "pause", node: 2, startedAt: 200, healedAt: 260 },
      { kind: "kill", node: 3, startedAt: 400, healedAt: 500 },
    ]
    expect(recoveryTimes(h, faults)).toEqual([30, 90, undefined])
  })
  it("quantiles by nearest rank", () => {
    expect(quantile([], 0.5)).toBeUndefined()
    expect(quantile([5, 1, 3, 2, 4], 0.5)).toBe(3)
    expect(quantile([5, 1, 3, 2, 4], 0.9)).toBe(5)
    expect(quantile([5, 1, 3, 2, 4], 1)).toBe(5)
  })
})

describe("dead loops, flags and replay", () => {
  it("finds the supervision policy's line and nothing else", () => {
    const out =
      '{"event":"ready","node":1}\nflotilla: loop engine died: RangeError: boom\nthe loop of life\nnothing died: here\n'
    expect(deadLoopLines(out)).toEqual(["flotilla: loop engine died: RangeError: boom"])
  })
  it("parses the flags, refuses bad ones, and replays what it was given", () => {
    expect(parseNemesisArgs([], 9)).toEqual({ seconds: 120, seed: 9, nodes: 3, clients: 8, keys: 24 })
    const args = parseNemesisArgs(["--seconds", "600", "--seed", "5", "--faults", "kill,pause"], 9)
    expect(args).toEqual({ seconds: 600, seed: 5, nodes: 3, clients: 8, keys: 24, kinds: ["kill", "pause"] })
    expect(parseNemesisArgs(["--nodes", "2"], 9)).toMatchObject({ error: expect.stringContaining("--nodes") })
    expect(parseNemesisArgs(["--faults", "flood"], 9)).toMatchObject({
      error: expect.stringContaining("flood"),
    })
    expect(parseNemesisArgs(["--sedd", "1"], 9)).toMatchObject({ error: expect.stringContaining("--sedd") })
    expect(parseNemesisArgs(["--seed"], 9)).toMatchObject({ error: expect.stringContaining("--seed") })
    if ("error" in args) throw new Error(args.error)
    expect(replayCommand(args)).toBe(
      "npm run nemesis -- --seed 5 --seconds 600 --nodes 3 --faults kill,pause",
    )
  })
})
