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
  | { readonly ok: false; readonly part: readonly Operation<I, O>[]; readonly reason: string }
  | { readonly ok: "unknown"; readonly reason: string }

/** Checks one part; gives up (unknown) after `budget` search steps. */
const checkPart = <S, I, O>(model: Model<S, I, O>, all: readonly Operation<I, O>[], budget: number) => {
  const ops =
    model.readOnly === undefined
      ? all
      : all.filter((o) => o.completedAt !== Number.POSITIVE_INFINITY || !model.readOnly!(o.input))
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
): CheckResult<I, O> => {
  const parts = model.partition ? model.partition(history) : [history.slice()]
  for (const part of parts) {
    const r = checkPart(model, part, budget)
    if (r === "budget") return { ok: "unknown", reason: `search budget of ${budget} steps exhausted` }
    if (!r) return { ok: false, part, reason: "no linearization exists" }
  }
  return { ok: true }
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
