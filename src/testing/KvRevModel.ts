/**
 * A linearizability model (Linearizability.ts) of the revisioned KV shard (shards/kv, issue 17):
 * one shard's revision counter and, per key, its value, create revision, mod revision and
 * version, with etcd's rules as `Mvcc.ts` states them: every operation that writes at least one
 * key moves the revision up by exactly one; a key's version counts its writes since its creation
 * and restarts at 1 when a deleted key is created again; a deletion of an absent key writes
 * nothing.
 *
 * Operations: `txn` (compares, then the success or the failure branch: put, delete, get), `read`
 * (the key now, with the shard revision the read saw) and `casRev` (the client's
 * `casRevision`: set or delete if the mod revision is the expected one, else `Conflict` with the
 * value found). Each output carries revisions, so the order of the writes is fixed by what
 * they answered and a lost, repeated or reordered write shows as a revision that fits nowhere.
 *
 * Revisions are per shard: `partition` splits a history by `shard` (tests name it by hash tag),
 * and each part is checked alone.
 */
import type { Model, Operation } from "./Linearizability.js"

/** A live key as the model holds it (values as strings). */
export interface RevRecord {
  readonly value: string
  readonly create: number
  readonly mod: number
  readonly version: number
}

/** A comparison of a transaction (the KV shard's `Compare`, values as strings). */
export type RevCompare =
  | {
      readonly key: string
      readonly target: "value"
      readonly result: "=" | "!=" | "<" | ">"
      readonly value: string | null
    }
  | {
      readonly key: string
      readonly target: "modRevision" | "createRevision" | "version"
      readonly result: "=" | "!=" | "<" | ">"
      readonly number: number
    }

/** An operation of a transaction. */
export type RevTxnOp =
  | { readonly op: "put"; readonly key: string; readonly value: string }
  | { readonly op: "delete"; readonly key: string }
  | { readonly op: "get"; readonly key: string }

/** The result of one operation of a transaction. */
export type RevTxnResult =
  | { readonly op: "put"; readonly prev: RevRecord | null }
  | { readonly op: "delete"; readonly prev: RevRecord | null }
  | { readonly op: "get"; readonly kv: RevRecord | null }

export type RevInput =
  | {
      readonly op: "txn"
      readonly shard: string
      readonly compare: ReadonlyArray<RevCompare>
      readonly success: ReadonlyArray<RevTxnOp>
      readonly failure: ReadonlyArray<RevTxnOp>
    }
  | { readonly op: "read"; readonly shard: string; readonly key: string }
  | {
      readonly op: "casRev"
      readonly shard: string
      readonly key: string
      readonly modRevision: number
      readonly value: string | null
    }

export type RevOutput =
  | {
      readonly op: "txn"
      readonly succeeded: boolean
      readonly revision: number
      readonly results: ReadonlyArray<RevTxnResult>
    }
  | { readonly op: "read"; readonly revision: number; readonly kv: RevRecord | null }
  | { readonly op: "casRev"; readonly ok: true; readonly revision: number }
  | { readonly op: "casRev"; readonly ok: false; readonly current: string | null }

/** One shard: its revision and its live keys. */
export interface RevState {
  readonly revision: number
  readonly keys: ReadonlyMap<string, RevRecord>
}

const empty: RevState = { revision: 0, keys: new Map() }

const order = (result: "=" | "!=" | "<" | ">", d: number) =>
  result === "=" ? d === 0 : result === "!=" ? d !== 0 : result === "<" ? d < 0 : d > 0

/** Whether `c` holds in `s` (absent keys: value null, numbers 0; absent values are never ordered). */
export const holds = (s: RevState, c: RevCompare): boolean => {
  const kv = s.keys.get(c.key)
  if (c.target === "value") {
    const current = kv?.value ?? null
    if (current === null || c.value === null) {
      const same = current === c.value
      return c.result === "=" ? same : c.result === "!=" ? !same : false
    }
    return order(c.result, current < c.value ? -1 : current > c.value ? 1 : 0)
  }
  const n =
    kv === undefined
      ? 0
      : c.target === "modRevision"
        ? kv.mod
        : c.target === "createRevision"
          ? kv.create
          : kv.version
  return order(c.result, n - c.number)
}

/** Runs `ops` as one revision: the new state and each operation's result. */
export const applyOps = (
  s: RevState,
  ops: ReadonlyArray<RevTxnOp>,
): { readonly state: RevState; readonly results: RevTxnResult[] } => {
  const keys = new Map(s.keys)
  const next = s.revision + 1
  let wrote = false
  const results: RevTxnResult[] = []
  for (const o of ops) {
    const prev = keys.get(o.key) ?? null
    if (o.op === "get") results.push({ op: "get", kv: prev })
    else if (o.op === "delete") {
      if (prev !== null) {
        keys.delete(o.key)
        wrote = true
      }
      results.push({ op: "delete", prev })
    } else {
      keys.set(o.key, {
        value: o.value,
        create: prev?.create ?? next,
        mod: next,
        version: (prev?.version ?? 0) + 1,
      })
      wrote = true
      results.push({ op: "put", prev })
    }
  }
  return { state: wrote ? { revision: next, keys } : s, results }
}

/** What `input` does to `s`, and what it answers. */
export const stepRev = (
  s: RevState,
  input: RevInput,
): { readonly state: RevState; readonly output: RevOutput } => {
  switch (input.op) {
    case "read":
      return { state: s, output: { op: "read", revision: s.revision, kv: s.keys.get(input.key) ?? null } }
    case "txn": {
      const succeeded = input.compare.every((c) => holds(s, c))
      const r = applyOps(s, succeeded ? input.success : input.failure)
      return {
        state: r.state,
        output: { op: "txn", succeeded, revision: r.state.revision, results: r.results },
      }
    }
    case "casRev": {
      const kv = s.keys.get(input.key)
      if ((kv?.mod ?? 0) !== input.modRevision)
        return { state: s, output: { op: "casRev", ok: false, current: kv?.value ?? null } }
      const op: RevTxnOp =
        input.value === null
          ? { op: "delete", key: input.key }
          : { op: "put", key: input.key, value: input.value }
      const r = applyOps(s, [op])
      return { state: r.state, output: { op: "casRev", ok: true, revision: r.state.revision } }
    }
  }
}

/** A canonical text of an output (records with their fields in one order). */
const canonical = (o: RevOutput): string =>
  JSON.stringify(o, (_k, v) =>
    v !== null && typeof v === "object" && "mod" in v && "create" in v
      ? [v.value, v.create, v.mod, v.version]
      : v,
  )

export const revModel: Model<RevState, RevInput, RevOutput> = {
  init: empty,
  step: (state, input, output) => {
    const r = stepRev(state, input)
    // An unknown outcome may be placed anywhere; it took effect when it is placed.
    if (output === undefined) return { ok: true, state: r.state }
    return { ok: canonical(r.output) === canonical(output), state: r.state }
  },
  key: (state) =>
    `${state.revision}|${[...state.keys]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${v.value}/${v.create}/${v.mod}/${v.version}`)
      .join(",")}`,
  partition: (ops) => {
    const byShard = new Map<string, Operation<RevInput, RevOutput>[]>()
    for (const op of ops) {
      const list = byShard.get(op.input.shard) ?? []
      list.push(op)
      byShard.set(op.input.shard, list)
    }
    return [...byShard.values()]
  },
}
