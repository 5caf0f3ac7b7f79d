/**
 * Configuration changes (`Changer`): entering and leaving joint configurations, learners and
 * learners_next, refusals; properties: a refused change leaves the tracker untouched, an
 * accepted one yields a well-formed configuration, and computing a change never mutates the
 * tracker (proposals dry-run it).
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { type ChangeResult, Changer } from "../../src/raft/Changer.js"
import { type ConfChangeSingle, ConfChangeType } from "../../src/raft/ConfChange.js"
import type { InvalidConfChange } from "../../src/raft/Errors.js"
import { describeConfig, ProgressTracker } from "../../src/raft/Tracker.js"
import type { ReplicaId } from "../../src/raft/Types.js"

const v = (id: number): ConfChangeSingle => ({ type: ConfChangeType.AddNode, nodeId: id as ReplicaId })
const l = (id: number): ConfChangeSingle => ({ type: ConfChangeType.AddLearner, nodeId: id as ReplicaId })
const r = (id: number): ConfChangeSingle => ({ type: ConfChangeType.RemoveNode, nodeId: id as ReplicaId })

const isErr = (x: ChangeResult | InvalidConfChange): x is InvalidConfChange => "_tag" in x

/** A tracker built by applying simple changes one by one (must all succeed). */
const trackerWith = (...steps: ConfChangeSingle[][]) => {
  const t = new ProgressTracker(8, 0)
  for (const s of steps) {
    const res = new Changer(t, 10).simple(s)
    if (isErr(res)) throw new Error(res.reason)
    t.setConfig(res.config, res.progress)
  }
  return t
}

const adopt = (t: ProgressTracker, res: ReturnType<Changer["simple"]>) => {
  if (isErr(res)) throw new Error(res.reason)
  t.setConfig(res.config, res.progress)
  return describeConfig(t.config)
}

/** Everything about a tracker that a change could touch, including Progress identity and fields. */
const fingerprint = (t: ProgressTracker) => ({
  config: JSON.stringify(t.config),
  progress: [...t.progress].map(([id, pr]) => [
    id,
    pr,
    JSON.stringify({ ...pr, inflights: pr.inflights.count() }),
  ]),
})

describe("Changer", () => {
  it("simple changes add voters and learners one at a time", () => {
    const t = trackerWith([v(1)], [v(2)], [v(3)], [l(4)])
    expect(describeConfig(t.config)).toBe("voters=(1 2 3) learners=(4)")
    // Promoting a learner, demoting a voter: one voter changes each time.
    expect(adopt(t, new Changer(t, 10).simple([v(4)]))).toBe("voters=(1 2 3 4)")
    expect(adopt(t, new Changer(t, 10).simple([l(1)]))).toBe("voters=(2 3 4) learners=(1)")
    expect(adopt(t, new Changer(t, 10).simple([r(1)]))).toBe("voters=(2 3 4)")
    expect(t.progress.has(1 as ReplicaId)).toBe(false)
    // Removing an unknown node is a no-op, not an error.
    expect(adopt(t, new Changer(t, 10).simple([r(9)]))).toBe("voters=(2 3 4)")
  })

  it("enters a joint configuration and leaves it, dropping removed voters' progress then", () => {
    const t = trackerWith([v(1)], [v(2)], [v(3)])
    const res = new Changer(t, 10).enterJoint(true, [v(4), r(1)])
    expect(adopt(t, res)).toBe("voters=(2 3 4)&&(1 2 3) autoleave")
    // The removed voter keeps its progress while it is still an outgoing voter.
    expect(t.progress.has(1 as ReplicaId)).toBe(true)
    expect(t.progress.get(4 as ReplicaId)!.next).toBe(10)
    expect(adopt(t, new Changer(t, 10).leaveJoint())).toBe("voters=(2 3 4)")
    expect(t.progress.has(1 as ReplicaId)).toBe(false)
  })

  it("demotes an outgoing voter through learners_next", () => {
    const t = trackerWith([v(1)], [v(2)], [v(3)])
    expect(adopt(t, new Changer(t, 10).enterJoint(false, [l(3), v(4)]))).toBe(
      "voters=(1 2 4)&&(1 2 3) learners_next=(3)",
    )
    expect(t.progress.get(3 as ReplicaId)!.isLearner).toBe(false)
    expect(adopt(t, new Changer(t, 10).leaveJoint())).toBe("voters=(1 2 4) learners=(3)")
    expect(t.progress.get(3 as ReplicaId)!.isLearner).toBe(true)
  })

  it("a learners_next node promoted back in the same joint change is a voter again", () => {
    const t = trackerWith([v(1)], [v(2)], [v(3)])
    expect(adopt(t, new Changer(t, 10).enterJoint(false, [l(3), v(3)]))).toBe("voters=(1 2 3)&&(1 2 3)")
  })

  it("refuses what etcd refuses", () => {
    const t = trackerWith([v(1)], [v(2)], [v(3)])
    const cases: [string, () => ReturnType<Changer["simple"]>][] = [
      ["two voters at once without joint consensus", () => new Changer(t, 10).simple([v(4), v(5)])],
      ["a voter swapped without joint consensus", () => new Changer(t, 10).simple([v(4), r(1)])],
      ["removing every voter", () => new Changer(t, 10).enterJoint(false, [r(1), r(2), r(3)])],
      ["leaving a non-joint configuration", () => new Changer(t, 10).leaveJoint()],
      [
        "a zero-voter joint configuration",
        () => new Changer(new ProgressTracker(8, 0), 10).enterJoint(false, [v(1)]),
      ],
    ]
    for (const [what, f] of cases) expect(isErr(f()), what).toBe(true)
    adopt(t, new Changer(t, 10).enterJoint(false, [v(4)]))
    expect(isErr(new Changer(t, 10).enterJoint(false, [v(5)]))).toBe(true)
    expect(isErr(new Changer(t, 10).simple([v(5)]))).toBe(true)
    const zero = new ProgressTracker(8, 0)
    expect(isErr(new Changer(zero, 10).simple([l(1)]))).toBe(true) // no voter at all
  })

  describe("properties", () => {
    const single = fc
      .record({ type: fc.constantFrom(0, 1, 2), nodeId: fc.integer({ min: 1, max: 6 }) })
      .map((c) => c as unknown as ConfChangeSingle)
    const step = fc.oneof(
      fc.record({
        kind: fc.constant("simple" as const),
        changes: fc.array(single, { minLength: 1, maxLength: 3 }),
      }),
      fc.record({
        kind: fc.constant("enter" as const),
        autoLeave: fc.boolean(),
        changes: fc.array(single, { minLength: 1, maxLength: 4 }),
      }),
      fc.constant({ kind: "leave" as const }),
    )

    it("a refused change leaves the tracker untouched; an accepted one is well formed; neither mutates", () => {
      fc.assert(
        fc.property(fc.array(step, { maxLength: 25 }), (steps) => {
          const t = trackerWith([v(1)], [v(2)], [v(3)])
          for (const s of steps) {
            const before = fingerprint(t)
            const ch = new Changer(t, 10)
            const res =
              s.kind === "simple"
                ? ch.simple(s.changes)
                : s.kind === "enter"
                  ? ch.enterJoint(s.autoLeave, s.changes)
                  : ch.leaveJoint()
            // Computing a change, accepted or not, never touches the tracker.
            expect(fingerprint(t)).toEqual(before)
            if (isErr(res)) continue
            const c = res.config
            const inc = new Set(c.incoming)
            const out = new Set(c.outgoing)
            expect(inc.size).toBeGreaterThan(0)
            for (const id of c.learners) expect(inc.has(id) || out.has(id)).toBe(false)
            for (const id of c.learnersNext) {
              expect(out.has(id)).toBe(true)
              expect(inc.has(id)).toBe(false)
            }
            if (out.size === 0) expect(c.autoLeave).toBe(false)
            const members = new Set([...c.incoming, ...c.outgoing, ...c.learners])
            expect(new Set(res.progress.keys())).toEqual(members)
            t.setConfig(res.config, res.progress)
            for (const [id, pr] of t.progress) expect(pr.isLearner).toBe(c.learners.includes(id))
          }
        }),
        { numRuns: 300 },
      )
    })
  })
})
