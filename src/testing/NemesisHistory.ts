/**
 * The history a nemesis run records through the KV gateway, and what is read from it: how a
 * gateway reply maps to an operation's outcome, the acknowledged writes the final reads show
 * lost, and the recovery time of each fault. Pure: no I/O, no clock.
 *
 * Outcomes (docs/protocol.md): `ok` answers and `Conflict` are definite; `BadRequest`,
 * `Unavailable` and `NotUtf8` mean nothing was written (`fail`); a `Timeout` or `Internal` reply,
 * no reply or no responders may have written once (`unknown`: completes at infinity in the
 * history, as the checker wants).
 */
import type { CasInput, CasOutput, Operation } from "./Linearizability.js"

/** An operation's outcome class. */
export type Outcome = "ok" | "fail" | "unknown"

/** What a reply (undefined: none came) means for an operation. */
export const classifyReply = (
  input: CasInput,
  reply: Record<string, unknown> | undefined,
): { readonly outcome: Outcome; readonly output?: CasOutput; readonly reason?: string } => {
  if (reply === undefined) return { outcome: "unknown", reason: "no reply" }
  if (reply.ok === true) {
    if (input.op === "get") {
      const value = reply.value
      if (value !== null && typeof value !== "string")
        return { outcome: "unknown", reason: `a get answered a ${typeof value} value` }
      return { outcome: "ok", output: { value } }
    }
    return { outcome: "ok", output: { ok: true } }
  }
  const error = typeof reply.error === "string" ? reply.error : "?"
  if (error === "Conflict" && input.op === "cas") {
    const current = reply.current
    if (current === null || typeof current === "string")
      return { outcome: "ok", output: { ok: false, current } }
    return { outcome: "unknown", reason: "a Conflict without a current value" }
  }
  if (error === "BadRequest" || error === "Unavailable" || error === "NotUtf8")
    return { outcome: "fail", reason: error }
  return { outcome: "unknown", reason: error }
}

/** The value an operation wrote when it succeeded (undefined: it wrote nothing). */
const written = (op: Operation<CasInput, CasOutput>): string | null | undefined => {
  if (op.input.op === "get") return undefined
  if (op.output !== undefined && "ok" in op.output && op.output.ok === false) return undefined
  return op.input.value
}

/**
 * Acknowledged writes that the final value of their key shows lost. A write `w` acknowledged
 * (completed) is lost when the key's final value was written by an operation that completed
 * before `w` was invoked (so `w` came later and vanished), or when the final value is absent
 * and no deleting write could explain it. Writes whose outcome is unknown are never counted and
 * may explain any final value. Values must be unique per key (the workload makes them so).
 *
 * `finals` maps each key to its final value (null: absent); keys without a final read are
 * skipped and reported in `unread`.
 */
export const lostWrites = (
  history: ReadonlyArray<Operation<CasInput, CasOutput>>,
  finals: ReadonlyMap<string, string | null>,
): { readonly lost: ReadonlyArray<Operation<CasInput, CasOutput>>; readonly unread: readonly string[] } => {
  const byKey = new Map<string, Operation<CasInput, CasOutput>[]>()
  for (const op of history) {
    if (written(op) === undefined) continue
    const list = byKey.get(op.input.key) ?? []
    list.push(op)
    byKey.set(op.input.key, list)
  }
  const lost: Operation<CasInput, CasOutput>[] = []
  const unread: string[] = []
  for (const [key, writes] of byKey) {
    if (!finals.has(key)) {
      unread.push(key)
      continue
    }
    const final = finals.get(key)!
    const writers = writes.filter((w) => written(w) === final)
    // The writer's completion: Infinity when unknown (it may have landed at any time).
    const writerDone =
      writers.length === 0
        ? final === null
          ? Number.NEGATIVE_INFINITY
          : undefined
        : Math.min(...writers.map((w) => w.completedAt))
    for (const w of writes) {
      if (w.completedAt === Number.POSITIVE_INFINITY || written(w) === final) continue
      // A final value nobody wrote is the checker's business (it fails the history); here it
      // counts every acknowledged write of the key as lost.
      if (writerDone === undefined || writerDone < w.invokedAt) lost.push(w)
    }
  }
  return { lost, unread }
}

/** A fault as it happened. */
export interface FaultRecord {
  readonly kind: string
  /** The node it hit (0: the NATS server). */
  readonly node: number
  /** When it started and healed, on the history's clock. */
  readonly startedAt: number
  readonly healedAt: number
}

/**
 * Per fault, the time from its heal to the first operation that completed successfully after
 * it (undefined when none did before the next fault started or the run ended).
 */
export const recoveryTimes = (
  history: ReadonlyArray<Operation<CasInput, CasOutput>>,
  faults: ReadonlyArray<FaultRecord>,
): Array<number | undefined> => {
  const completions = history
    .filter((op) => op.completedAt !== Number.POSITIVE_INFINITY)
    .map((op) => op.completedAt)
    .sort((a, b) => a - b)
  return faults.map((f, i) => {
    const until = faults[i + 1]?.startedAt ?? Number.POSITIVE_INFINITY
    const first = completions.find((t) => t >= f.healedAt)
    return first !== undefined && first < until ? first - f.healedAt : undefined
  })
}

/** The p-quantile (0..1) of `values` by nearest rank; undefined for none. */
export const quantile = (values: readonly number[], p: number): number | undefined => {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]
}
