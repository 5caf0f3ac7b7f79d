/**
 * The minimal witness of `Linearizability.minimalWitness`: for random histories, a failing
 * part's witness is a sub-history of it, is itself not linearizable, and is 1-minimal (dropping
 * any one of its operations leaves a linearizable history); a linearizable history has none.
 * Histories come from two generators: arbitrary registers (mostly wrong), and counter
 * histories that are linearizable by construction, with one answer corrupted.
 *
 * A failure prints fast-check's seed and the shrunk history; replay with FLOTILLA_FC_SEED=<seed>.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  checkLinearizable,
  describeHistory,
  isExplained,
  type KvInput,
  type KvOutput,
  kvModel,
  type Model,
  minimalWitness,
  type Operation,
  type Witness,
} from "../../src/testing/Linearizability.js"
import {
  type CounterInput,
  type CounterOutput,
  counterModel,
  resetForgettingModel,
} from "./support/CounterModel.js"

const fcSeed = Number(process.env.FLOTILLA_FC_SEED ?? 20_261_207)
const numRuns = Number(process.env.FLOTILLA_FC_RUNS ?? 150)

/** Asserts everything the witness promises about `history` (see `Witness`); returns it. */
const witnessHolds = <S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
): Witness<I, O> | undefined => {
  const result = checkLinearizable(model, history, 1_000_000, { witness: true })
  if (result.ok === "unknown") throw new Error(`undecided: ${result.reason}`)
  if (result.ok) {
    for (const part of model.partition?.(history) ?? [history])
      expect(minimalWitness(model, part)).toBeUndefined()
    return undefined
  }
  const w = result.witness
  if (w === undefined) throw new Error("a failing part without a witness")
  const explain = `${w.kind} witness:\n${describeHistory(w.ops)}\npart:\n${describeHistory(result.part)}`
  expect(w.minimal, explain).toBe(true)
  for (const op of w.ops) expect(result.part.includes(op), explain).toBe(true)
  expect(checkLinearizable(model, [...w.ops]).ok, explain).toBe(false)
  if (w.kind === "answer") {
    expect(w.ops.length, explain).toBe(1)
    expect(isExplained(model, result.part, w.ops[0]!), explain).toBe(false)
    return w
  }
  expect(w.ops.length, explain).toBeGreaterThan(1)
  for (const op of w.ops)
    expect(isExplained(model, w.ops, op), `${JSON.stringify(op)}\n${explain}`).toBe(true)
  for (const op of w.ops) {
    const rest = w.ops.filter((o) => o !== op)
    const linearizable = checkLinearizable(model, rest).ok === true
    const unexplained = rest.some((o) => isExplained(model, rest, o) === false)
    expect(linearizable || unexplained, `without ${JSON.stringify(op)}\n${explain}`).toBe(true)
  }
  return w
}

/** Interval bounds: invocation in [0, 30], duration in [0, 12], or an unknown outcome. */
const interval = fc.record({
  invokedAt: fc.integer({ min: 0, max: 30 }),
  duration: fc.integer({ min: 0, max: 12 }),
  unknown: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  client: fc.integer({ min: 1, max: 4 }),
})

/** Registers on two keys, outputs drawn at random (so most histories are wrong). */
const registerHistory: fc.Arbitrary<Operation<KvInput, KvOutput>[]> = fc
  .array(
    fc.record({
      at: interval,
      key: fc.constantFrom("a", "b"),
      put: fc.boolean(),
      value: fc.constantFrom("1", "2", "3"),
      read: fc.constantFrom<string | undefined>(undefined, "1", "2", "3"),
    }),
    { minLength: 1, maxLength: 9 },
  )
  .map((ops) =>
    ops.map(({ at, key, put, value, read }) => ({
      client: at.client,
      input: put ? { op: "put" as const, key, value } : { op: "get" as const, key },
      output: at.unknown ? undefined : put ? { value: undefined } : { value: read },
      invokedAt: at.invokedAt,
      completedAt: at.unknown ? Number.POSITIVE_INFINITY : at.invokedAt + at.duration,
    })),
  )

/**
 * Registers whose every read answers a value some write that could precede it wrote (or
 * absent): no "answer" witnesses, so the failures are of order (stale reads, lost writes).
 */
const plausibleRegisterHistory = registerHistory.map((ops) =>
  ops.map((o) => {
    if (o.input.op === "put" || o.output === undefined) return o
    const key = o.input.key
    const candidates = ops.filter(
      (w) => w.input.op === "put" && w.input.key === key && w.invokedAt <= o.completedAt,
    )
    const pick = candidates[(o.invokedAt + o.client) % (candidates.length + 1)]
    return { ...o, output: { value: pick?.input.op === "put" ? pick.input.value : undefined } }
  }),
)

/**
 * Counter histories on two entities made linearizable by construction (each operation takes
 * effect at a point drawn inside its interval, answers computed in that order), then one
 * completed answer is corrupted (`corrupt` picks which one and by how much; 0: none).
 */
const counterHistory: fc.Arbitrary<{ ops: Operation<CounterInput, CounterOutput>[]; corrupted: boolean }> = fc
  .record({
    ops: fc.array(
      fc.record({
        at: interval,
        point: fc.double({ min: 0, max: 1, noNaN: true }),
        id: fc.constantFrom("x", "y"),
        kind: fc.constantFrom("add", "add", "reset", "get", "get"),
        by: fc.integer({ min: -2, max: 3 }),
      }),
      { minLength: 1, maxLength: 10 },
    ),
    corrupt: fc.nat(),
    delta: fc.constantFrom(-1, 1, 2),
  })
  .map(({ ops, corrupt, delta }) => {
    const built = ops.map(({ at, point, id, kind, by }) => {
      const input: CounterInput =
        kind === "add" ? { id, op: "add", by } : kind === "reset" ? { id, op: "reset" } : { id, op: "get" }
      const completedAt = at.invokedAt + at.duration
      return { input, at, effectiveAt: at.invokedAt + point * at.duration, completedAt }
    })
    const state = new Map<string, number>()
    const outputs = new Map<number, number>()
    for (const i of built.map((_, i) => i).sort((a, b) => built[a]!.effectiveAt - built[b]!.effectiveAt)) {
      const { input } = built[i]!
      const n = state.get(input.id) ?? 0
      const r = counterModel.step(n, input, undefined)
      outputs.set(i, input.op === "add" ? r.state : n)
      state.set(input.id, r.state)
    }
    const known = built.map((_, i) => i).filter((i) => !built[i]!.at.unknown)
    const target = known.length === 0 || corrupt % 3 === 0 ? undefined : known[corrupt % known.length]
    return {
      corrupted: target !== undefined,
      ops: built.map((b, i) => ({
        client: b.at.client,
        input: b.input,
        output: b.at.unknown ? undefined : outputs.get(i)! + (i === target ? delta : 0),
        invokedAt: b.at.invokedAt,
        completedAt: b.at.unknown ? Number.POSITIVE_INFINITY : b.completedAt,
      })),
    }
  })

describe("minimalWitness", () => {
  it("registers: a failing part's witness fails, is 1-minimal and is part of it", () => {
    fc.assert(
      fc.property(registerHistory, (h) => {
        const w = witnessHolds(kvModel, h)
        if (w?.kind !== "answer") return
        // Independently: an unexplained register answer is a read of a value no put that
        // could precede it wrote.
        const [read] = w.ops
        const value = read!.output?.value
        expect(read!.input.op).toBe("get")
        expect(value).not.toBeUndefined()
        const writers = h.filter(
          (o) =>
            o.input.op === "put" &&
            o.input.key === read!.input.key &&
            o.input.value === value &&
            o.invokedAt <= read!.completedAt,
        )
        expect(writers).toEqual([])
      }),
      { numRuns, seed: fcSeed },
    )
  })

  it("registers with plausible reads: the failures are of order, and their witnesses 1-minimal", () => {
    fc.assert(
      fc.property(plausibleRegisterHistory, (h) => {
        expect(witnessHolds(kvModel, h)?.kind).not.toBe("answer")
      }),
      { numRuns, seed: fcSeed + 2 },
    )
  })

  it("counters: histories built linearizable pass; with a corrupted answer the witness is 1-minimal", () => {
    fc.assert(
      fc.property(counterHistory, ({ ops, corrupted }) => {
        if (!corrupted) expect(checkLinearizable(counterModel, ops).ok).toBe(true)
        witnessHolds(counterModel, ops)
      }),
      { numRuns, seed: fcSeed + 1 },
    )
  })

  it("keeps the write a wrong read needs, and drops what does not matter", () => {
    const op = <I, O>(
      client: number,
      input: I,
      output: O | undefined,
      invokedAt: number,
      completedAt: number,
    ) => ({
      client,
      input,
      output,
      invokedAt,
      completedAt,
    })
    const history: Operation<KvInput, KvOutput>[] = [
      op(1, { op: "put", key: "k", value: "1" }, { value: undefined }, 0, 1),
      op(2, { op: "put", key: "k", value: "2" }, { value: undefined }, 2, 3),
      op(3, { op: "get", key: "k" }, { value: "2" }, 4, 5),
      op(1, { op: "get", key: "k" }, { value: "1" }, 6, 7), // stale: 2 was read before
      op(2, { op: "get", key: "k" }, undefined, 6, Number.POSITIVE_INFINITY),
      op(3, { op: "put", key: "k", value: "3" }, { value: undefined }, 8, 9),
    ]
    const w = minimalWitness(kvModel, history)
    expect(w?.kind).toBe("order")
    expect(w?.minimal).toBe(true)
    // Not the bare "get -> 1" (non-linearizable, but nothing explains it): the read with the
    // writes that make it stale.
    expect(w?.ops).toEqual([history[0], history[1], history[3]])
  })

  it("a deliberately wrong model gets a short witness out of a long history", () => {
    // 40 sequential operations on one counter, one client; the model forgets what Reset does.
    const ops: Operation<CounterInput, CounterOutput>[] = []
    let n = 0
    for (let i = 0; i < 40; i++) {
      const input: CounterInput =
        i % 10 === 7
          ? { id: "c", op: "reset" }
          : i % 3 === 0
            ? { id: "c", op: "get" }
            : { id: "c", op: "add", by: 1 }
      const output = input.op === "add" ? (n += 1) : input.op === "reset" ? n : n
      if (input.op === "reset") n = 0
      ops.push({ client: 1, input, output, invokedAt: 2 * i, completedAt: 2 * i + 1 })
    }
    expect(checkLinearizable(counterModel, ops).ok).toBe(true)
    const result = checkLinearizable(resetForgettingModel, ops, undefined, { witness: true })
    expect(result.ok).toBe(false)
    if (result.ok !== false) return
    const w = result.witness!
    expect(w.kind).toBe("order")
    expect(w.minimal).toBe(true)
    // Out of 40: e.g. add -> 1, add -> 2, then get -> 1 (a Reset hid in between, and this
    // model cannot bring the counter down).
    expect(w.ops.length).toBeLessThanOrEqual(3)
    expect(checkLinearizable(resetForgettingModel, [...w.ops]).ok).toBe(false)
  })

  it("gives up honestly when out of checks: the result still fails but is not called minimal", () => {
    const ops: Operation<KvInput, KvOutput>[] = Array.from({ length: 12 }, (_, i) => ({
      client: 1,
      input: { op: "put" as const, key: "k", value: String(i) },
      output: { value: undefined },
      invokedAt: i,
      completedAt: i + 0.5,
    }))
    ops.push({
      client: 2,
      input: { op: "get", key: "k" },
      output: { value: "nobody" },
      invokedAt: 20,
      completedAt: 21,
    })
    const w = minimalWitness(kvModel, ops, { maxChecks: 2 })
    expect(w?.minimal).toBe(false)
    expect(w?.checks).toBe(2)
    expect(checkLinearizable(kvModel, [...w!.ops]).ok).toBe(false)
    const full = minimalWitness(kvModel, ops)
    expect(full?.kind).toBe("answer")
    expect(full?.ops).toEqual([ops[12]])
  })
})
