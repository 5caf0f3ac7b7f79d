/**
 * A linearizability checker for recorded client histories (Wing & Gong's search with Lowe's
 * memoization of visited states, as Porcupine does). A history is a set of operations, each
 * with an invocation time and a completion time; an operation whose outcome is unknown (the
 * client gave up) completes at `Infinity` and may or may not have taken effect.
 *
 * Histories are split by `partition` (e.g. by key) and each part is checked alone, which
 * keeps the search small (P-compositionality).
 */

export interface Operation<I, O> {
  readonly client: number
  readonly input: I
  /** Undefined when the outcome is unknown (timeout): the operation may or may not have happened. */
  readonly output: O | undefined
  readonly invokedAt: number
  /** `Infinity` when the outcome is unknown. */
  readonly completedAt: number
}

export interface Model<S, I, O> {
  readonly init: S
  /** Applies `input` to `state`; `undefined` output means "outcome unknown", which always fits. */
  step(state: S, input: I, output: O | undefined): { ok: boolean; state: S }
  /** A string that identifies a state (for memoization). */
  key(state: S): string
  /** Splits a history into independent parts; default: one part. */
  partition?(ops: readonly Operation<I, O>[]): Operation<I, O>[][]
  /**
   * Whether `input` never changes the state. Such an operation with an unknown outcome fits
   * anywhere and changes nothing, so the checker leaves it out (each one left in would stay a
   * candidate at every step of the search).
   */
  readOnly?(input: I): boolean
}

export type CheckResult<I, O> =
  | { readonly ok: true }
  | {
      readonly ok: false
      readonly part: readonly Operation<I, O>[]
      readonly reason: string
      /** A minimal failing sub-history of `part`, when asked for (`CheckOptions.witness`). */
      readonly witness?: Witness<I, O>
    }
  | { readonly ok: "unknown"; readonly reason: string }

/** Options of `checkLinearizable` beyond the search budget. */
export interface CheckOptions {
  /** Shrink a failing part to a minimal witness (`minimalWitness`); `true`: default options. */
  readonly witness?: boolean | WitnessOptions
}

/** Whether `op`'s outcome is unknown (it completes at infinity). */
const isUnknown = <I, O>(op: Operation<I, O>): boolean => op.completedAt === Number.POSITIVE_INFINITY

/** `ops` without the unknown-outcome operations that cannot change the state (see `Model.readOnly`). */
const relevant = <S, I, O>(model: Model<S, I, O>, ops: readonly Operation<I, O>[]): Operation<I, O>[] =>
  model.readOnly === undefined ? ops.slice() : ops.filter((o) => !isUnknown(o) || !model.readOnly!(o.input))

/** Checks one part; gives up (unknown) after `budget` search steps. */
const checkPart = <S, I, O>(
  model: Model<S, I, O>,
  all: readonly Operation<I, O>[],
  budget: number,
): boolean | "budget" => {
  const ops = relevant(model, all)
  const n = ops.length
  // Completed operations must all be linearized; unknown ones may be skipped.
  const sorted = [...ops].sort((a, b) => a.invokedAt - b.invokedAt)
  const required = sorted.filter((o) => o.completedAt !== Number.POSITIVE_INFINITY).length
  const done = new Uint8Array(n)
  const visited = new Set<string>()
  let steps = 0
  const doneKey = () => {
    let s = ""
    for (let i = 0; i < n; i++) s += done[i] ? "1" : "0"
    return s
  }

  const search = (state: S, linearizedRequired: number): boolean | "budget" => {
    if (linearizedRequired === required) return true
    if (++steps > budget) return "budget"
    const memo = `${doneKey()}|${model.key(state)}`
    if (visited.has(memo)) return false
    visited.add(memo)
    // An operation may go next only if it was invoked before every pending completion.
    let minReturn = Number.POSITIVE_INFINITY
    for (let i = 0; i < n; i++)
      if (!done[i] && sorted[i]!.completedAt < minReturn) minReturn = sorted[i]!.completedAt
    for (let i = 0; i < n; i++) {
      if (done[i]) continue
      const op = sorted[i]!
      if (op.invokedAt > minReturn) break
      const r = model.step(state, op.input, op.output)
      if (!r.ok) continue
      done[i] = 1
      const found = search(
        r.state,
        linearizedRequired + (op.completedAt === Number.POSITIVE_INFINITY ? 0 : 1),
      )
      done[i] = 0
      if (found !== false) return found
    }
    return false
  }
  return search(model.init, 0)
}

/** Checks a whole history against `model`. */
export const checkLinearizable = <S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  budget = 2_000_000,
  options: CheckOptions = {},
): CheckResult<I, O> => {
  const parts = model.partition ? model.partition(history) : [history.slice()]
  for (const part of parts) {
    const r = checkPart(model, part, budget)
    if (r === "budget") return { ok: "unknown", reason: `search budget of ${budget} steps exhausted` }
    if (!r) {
      const reason = "no linearization exists"
      if (options.witness === undefined || options.witness === false) return { ok: false, part, reason }
      const witness = minimalWitness(model, part, options.witness === true ? {} : options.witness)
      return witness === undefined ? { ok: false, part, reason } : { ok: false, part, reason, witness }
    }
  }
  return { ok: true }
}

/**
 * A minimal witness of a non-linearizable part: a few of its operations that already cannot be
 * linearized, each of which makes sense on its own.
 *
 * DEFINITIONS. A sub-history of a part P is some of P's operations, each exactly as recorded
 * (client, input, output, invocation and completion times); it is checked from `model.init`
 * like any history. A completed operation `o` is EXPLAINED in a sub-history W when some of W's
 * other operations, each taken or not and in an order their invocation times allow, lead the
 * model to answer `o` as recorded (`o` linearizable when every other operation of W counts as
 * one of unknown outcome). A WITNESS of P is then either
 *
 * - ("answer") a single operation of P that is not explained in P: no subset of the others
 *   explains its answer (a read of a value nobody wrote); or
 * - ("order") a sub-history W of P that is not linearizable although every operation of W is
 *   explained in W: each answer is possible, but not all of them in one real-time order.
 *
 * An "order" witness is 1-MINIMAL when removing any one operation leaves a sub-history that is
 * linearizable or no longer explains all its answers. Why the second condition: removing a
 * write does not undo it, it only hides it, and the read that saw it then fails alone — the
 * bare "some read returned 2" is non-linearizable but says nothing; the witness keeps the
 * writes its reads need (put 1, put 2 completed, then get -> 1: a stale read).
 */
export interface Witness<I, O> {
  /** "answer": one operation nothing explains; "order": answers that cannot all be ordered. */
  readonly kind: "answer" | "order"
  /** The operations of the witness, by invocation time. */
  readonly ops: readonly Operation<I, O>[]
  /**
   * Whether 1-minimality was established: every single removal was re-checked. False when the
   * shrinker ran out of checks or a re-check ran out of search budget (then that removal was not
   * taken: `ops` is still a witness, maybe a larger one).
   */
  readonly minimal: boolean
  /** Searches made (re-checks of candidates and of their answers). */
  readonly checks: number
}

/** Limits of `minimalWitness`. */
export interface WitnessOptions {
  /** Search steps allowed to each check of a candidate (default 200,000). */
  readonly budget?: number
  /** Search steps allowed to each search for an explanation (default 20,000). */
  readonly explainBudget?: number
  /** Searches allowed in all (default 5,000). */
  readonly maxChecks?: number
}

/** A key for `input` such that equal keys mean interchangeable inputs (identity when not JSON). */
const inputKey = (input: unknown, fallback: number): string => {
  try {
    return JSON.stringify(input) ?? `#${fallback}`
  } catch {
    return `#${fallback}`
  }
}

/**
 * Searches for an explanation of `op`'s answer among `ops` (see `Witness`): the operations to
 * apply before it, in order; false when there is none; "budget" after `budget` search steps.
 *
 * Read-only operations never help, and operations invoked after `op` completed cannot come
 * before it, so neither is considered. The others all count as of unknown outcome and are all
 * available from the start, so two with equal inputs are interchangeable: the search runs over
 * how many of each input are used (and the model state), not over which ones, which keeps it
 * small for counters (forty `add 1`s are 41 choices, not 2^40). Before that, a cheap search
 * that lets every input be used any number of times finds the answers nothing can explain
 * (a read of a value no write wrote) at once.
 */
const explain = <S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  op: Operation<I, O>,
  budget: number,
): Operation<I, O>[] | false | "budget" => {
  if (isUnknown(op)) return []
  const fits = (state: S) => model.step(state, op.input, op.output).ok
  const classes: { readonly input: I; readonly members: Operation<I, O>[] }[] = []
  const byKey = new Map<string, number>()
  const others = ops
    .filter((o) => o !== op && o.invokedAt <= op.completedAt && model.readOnly?.(o.input) !== true)
    .sort((a, b) => a.invokedAt - b.invokedAt)
  others.forEach((o, i) => {
    const key = inputKey(o.input, i)
    const c = byKey.get(key)
    if (c === undefined) {
      byKey.set(key, classes.length)
      classes.push({ input: o.input, members: [o] })
    } else classes[c]!.members.push(o)
  })
  // 1. Every input reusable: an over-approximation of the reachable states. Unbounded for
  // some models (a counter), so it gets a small budget and then gives way to the exact search.
  const overBudget = Math.min(budget, 1_000 + 10 * classes.length)
  const seen = new Set<string>([model.key(model.init)])
  const stack = [model.init]
  let steps = 0
  let reachable = false
  while (stack.length > 0 && !reachable) {
    const state = stack.pop()!
    if (fits(state) || ++steps > overBudget) reachable = true
    else
      for (const c of classes) {
        const r = model.step(state, c.input, undefined)
        const key = model.key(r.state)
        if (r.ok && !seen.has(key)) {
          seen.add(key)
          stack.push(r.state)
        }
      }
  }
  if (!reachable) return false
  // 2. Exactly: each operation at most once, over the counts used of each input.
  const used = new Array<number>(classes.length).fill(0)
  const path: number[] = []
  const visited = new Set<string>()
  steps = 0
  const search = (state: S): boolean | "budget" => {
    if (fits(state)) return true
    if (++steps > budget) return "budget"
    const memo = `${used.join(",")}|${model.key(state)}`
    if (visited.has(memo)) return false
    visited.add(memo)
    for (let c = 0; c < classes.length; c++) {
      if (used[c] === classes[c]!.members.length) continue
      const r = model.step(state, classes[c]!.input, undefined)
      if (!r.ok) continue
      used[c]!++
      path.push(c)
      const found = search(r.state)
      if (found !== false) return found
      path.pop()
      used[c]!--
    }
    return false
  }
  const r = search(model.init)
  if (r !== true) return r
  const taken = new Array<number>(classes.length).fill(0)
  return path.map((c) => classes[c]!.members[taken[c]!++]!)
}

/**
 * Whether `op`'s answer is explained in `ops` (see `Witness`): true, false, or "budget" when
 * the search ran out of steps. Operations of unknown outcome have no answer to explain.
 */
export const isExplained = <S, I, O>(
  model: Model<S, I, O>,
  ops: readonly Operation<I, O>[],
  op: Operation<I, O>,
  budget = 200_000,
): boolean | "budget" => {
  const r = explain(model, ops, op, budget)
  return r === false || r === "budget" ? r : true
}

/**
 * Shrinks `part`, which must not be linearizable, to a witness (see `Witness`). First the
 * "answer" witness: the first operation (by invocation) that nothing in the part explains.
 * Otherwise delta debugging over complements (Zeller's ddmin): drop chunks of a half, a
 * quarter, ... of the operations while what is left is still an "order" witness, ending with
 * passes over single operations until a pass drops none: the result is 1-minimal. Operations
 * of unknown outcome that cannot change the state are left out first (they never matter).
 * Undefined when `part` is linearizable or its check ran out of budget. Deterministic.
 *
 * Explanations are searched with `explainBudget` steps (an answer nothing explains costs a
 * search through every subset of what came before it); a search that runs out counts as "not
 * explained", so the candidate is not taken and the result is not called minimal if that
 * happened in the last pass.
 */
export const minimalWitness = <S, I, O>(
  model: Model<S, I, O>,
  part: readonly Operation<I, O>[],
  options: WitnessOptions = {},
): Witness<I, O> | undefined => {
  const budget = options.budget ?? 200_000
  const explainBudget = options.explainBudget ?? 20_000
  const maxChecks = options.maxChecks ?? 5_000
  let current = relevant(model, part).sort((a, b) => a.invokedAt - b.invokedAt)
  let checks = 1
  if (checkPart(model, current, budget) !== false) return undefined
  let outOfChecks = false
  const counted = <A>(run: () => A | "budget"): A | "budget" => {
    if (checks >= maxChecks) {
      outOfChecks = true
      return "budget"
    }
    checks++
    return run()
  }
  // Explanation is monotone (more operations, more ways to explain), so every explanation
  // found is kept: a candidate that holds one explains the operation without a search.
  const explanations = new Map<Operation<I, O>, Set<Operation<I, O>>[]>()
  const explainedIn = (candidate: Set<Operation<I, O>>, op: Operation<I, O>): boolean | "budget" => {
    const known = explanations.get(op) ?? []
    for (const e of known) {
      let all = true
      for (const o of e)
        if (!candidate.has(o)) {
          all = false
          break
        }
      if (all) return true
    }
    const r = counted(() => explain(model, [...candidate], op, explainBudget))
    if (r === false || r === "budget") return r
    known.push(new Set(r))
    explanations.set(op, known)
    return true
  }
  let undecided = false
  const whole = new Set(current)
  for (const op of current) {
    const r = explainedIn(whole, op)
    if (r === false) return { kind: "answer", ops: [op], minimal: true, checks }
    if (r === "budget") undecided = true
  }
  if (outOfChecks) return { kind: "order", ops: current, minimal: false, checks }
  // Whether `current` is known to be an "order" witness (every answer explained).
  let verified = !undecided
  // An "order" witness: not linearizable, every answer explained. Undecided counts as no.
  const isWitness = (candidate: Operation<I, O>[]): boolean | "budget" => {
    const set = new Set(candidate)
    for (const op of candidate) {
      const r = explainedIn(set, op)
      if (r !== true) return r
    }
    const r = counted(() => checkPart(model, candidate, budget))
    return r === "budget" ? r : !r
  }
  const done = (minimal: boolean): Witness<I, O> => ({
    kind: "order",
    ops: current,
    minimal: minimal && verified,
    checks,
  })
  let granularity = 2
  while (current.length >= 2) {
    const size = Math.ceil(current.length / Math.min(granularity, current.length))
    let reduced = false
    undecided = false
    for (let start = 0; start < current.length && current.length >= 2; ) {
      const candidate = [...current.slice(0, start), ...current.slice(start + size)]
      const r = isWitness(candidate)
      if (outOfChecks) return done(false)
      if (r === true) {
        current = candidate
        reduced = true
        verified = true
      } else {
        if (r === "budget") undecided = true
        start += size
      }
    }
    if (size === 1) {
      // A pass over single operations that dropped none: 1-minimal, unless a search was undecided.
      if (!reduced) return done(!undecided)
    } else if (!reduced) granularity *= 2
  }
  return done(true)
}

/** A `Model.partition` that splits a history by `keyOf(input)` (a key, an entity id). */
export const partitionBy =
  <I, O>(keyOf: (input: I) => string) =>
  (ops: readonly Operation<I, O>[]): Operation<I, O>[][] => {
    const byKey = new Map<string, Operation<I, O>[]>()
    for (const op of ops) {
      const key = keyOf(op.input)
      const list = byKey.get(key)
      if (list === undefined) byKey.set(key, [op])
      else list.push(op)
    }
    return [...byKey.values()]
  }

/** Register-per-key model: `put` sets a value, `get` returns the current one (undefined = absent). */
export type KvInput =
  | { readonly op: "put"; readonly key: string; readonly value: string }
  | { readonly op: "get"; readonly key: string }
export type KvOutput = { readonly value: string | undefined }

export const kvModel: Model<string | undefined, KvInput, KvOutput> = {
  init: undefined,
  step: (state, input, output) => {
    if (input.op === "put") return { ok: true, state: input.value }
    if (output === undefined) return { ok: true, state }
    return { ok: output.value === state, state }
  },
  key: (state) => state ?? "\u0000absent",
  readOnly: (input) => input.op === "get",
  partition: (ops) => {
    const byKey = new Map<string, Operation<KvInput, KvOutput>[]>()
    for (const op of ops) {
      const list = byKey.get(op.input.key) ?? []
      list.push(op)
      byKey.set(op.input.key, list)
    }
    return [...byKey.values()]
  },
}

/** A readable dump of a part, for failure messages. */
export const describeHistory = <I, O>(ops: readonly Operation<I, O>[]): string =>
  [...ops]
    .sort((a, b) => a.invokedAt - b.invokedAt)
    .map(
      (o) =>
        `  c${o.client} [${o.invokedAt}, ${o.completedAt === Number.POSITIVE_INFINITY ? "∞" : o.completedAt}] ${JSON.stringify(o.input)} -> ${o.output === undefined ? "?" : JSON.stringify(o.output)}`,
    )
    .join("\n")

/**
 * Compare-and-set register per key (the KV store's `get`, `put` and `cas`): the state of a key
 * is its value, `null` when absent. A `cas` whose `value` is null deletes.
 */
export type CasInput =
  | { readonly op: "get"; readonly key: string }
  | { readonly op: "put"; readonly key: string; readonly value: string }
  | {
      readonly op: "cas"
      readonly key: string
      readonly expected: string | null
      readonly value: string | null
    }
/** `get` answers `{ value }`; `put` and a successful `cas` `{ ok: true }`; a failed `cas` the value it found. */
export type CasOutput =
  | { readonly value: string | null }
  | { readonly ok: true }
  | { readonly ok: false; readonly current: string | null }

export const casModel: Model<string | null, CasInput, CasOutput> = {
  init: null,
  step: (state, input, output) => {
    switch (input.op) {
      case "get":
        return { ok: output === undefined || ("value" in output && output.value === state), state }
      case "put":
        return { ok: output === undefined || ("ok" in output && output.ok), state: input.value }
      case "cas": {
        const matches = state === input.expected
        // An unknown outcome may be placed here: it applies exactly when the value matches.
        if (output === undefined) return { ok: true, state: matches ? input.value : state }
        if (!("ok" in output)) return { ok: false, state }
        if (output.ok) return { ok: matches, state: matches ? input.value : state }
        return { ok: !matches && output.current === state, state }
      }
    }
  },
  key: (state) => (state === null ? "\u0000absent" : `=${state}`),
  readOnly: (input) => input.op === "get",
  partition: (ops) => {
    const byKey = new Map<string, Operation<CasInput, CasOutput>[]>()
    for (const op of ops) {
      const list = byKey.get(op.input.key) ?? []
      list.push(op)
      byKey.set(op.input.key, list)
    }
    return [...byKey.values()]
  },
}
