/**
 * A seeded client workload of the revisioned KV store for the simulation (KvSim.ts), recorded
 * as a history for the revision model (KvRevModel.ts): reads, puts, compare-and-set by value
 * (a read, then a `Txn` comparing the value read), compare-and-set by revision (a read, then
 * `casRevision` with the mod revision read) and random transactions (compares on values,
 * revisions and versions; branches of puts, deletes and gets), over a few keys per hash tag
 * (one tag: one slot, one shard, one revision sequence).
 *
 * OUTCOMES: a reply is recorded as it is; `Timeout` (the request may have taken effect) as an
 * unknown outcome; `Unavailable` (nothing can have taken effect) as no operation at all. Any
 * other failure ends the workload with a defect.
 *
 * Times are positions in one counter of invocations and completions, shared by every client of
 * a history: the simulation runs one fiber at a time, so the counter is the real-time order.
 */
import { Clock, Effect, Option } from "effect"
import type { KeyValue, TxnOpResult } from "../../shards/kv/KvRev.js"
import type { Conflict } from "../client/ClientErrors.js"
import type { KvRevClientService } from "../client/KvRevClient.js"
import { SeededRandom } from "../transport/MemoryNetwork.js"
import type { RevCompare, RevInput, RevOutput, RevRecord, RevTxnOp, RevTxnResult } from "./KvRevModel.js"
import type { Operation } from "./Linearizability.js"
import { mixSeed } from "./RuntimeSimSeed.js"

/** A recorded history, shared by the clients of one run. */
export class RevHistory {
  readonly ops: Array<Operation<RevInput, RevOutput> & { readonly atMs: number }> = []
  private clock = 0
  /** Timeouts (unknown outcomes) and unavailable answers seen. */
  timeouts = 0
  unavailable = 0

  tick(): number {
    return ++this.clock
  }
}

/** What one client does. */
export interface WorkloadOptions {
  readonly client: number
  readonly seed: number
  /** Hash tags (without braces): each is one shard's key space. */
  readonly tags: ReadonlyArray<string>
  /** Keys per tag (default 3). */
  readonly keys?: number
  /** Operations (default 40); reads before a CAS count as operations of their own. */
  readonly ops?: number
  /** Virtual ms between two operations, drawn in [0, pauseMs) (default 40). */
  readonly pauseMs?: number
}

const text = (b: Uint8Array) => new TextDecoder().decode(b)
const record = (kv: KeyValue | null): RevRecord | null =>
  kv === null
    ? null
    : { value: text(kv.value), create: kv.createRevision, mod: kv.modRevision, version: kv.version }

const resultOf = (r: TxnOpResult): RevTxnResult =>
  r.op === "get" ? { op: "get", kv: record(r.kv) } : { op: r.op, prev: record(r.prev) }

/** Runs `input` against the client; its output, or why there is none. */
const perform = (
  c: KvRevClientService,
  input: RevInput,
): Effect.Effect<RevOutput, { readonly _tag: "Timeout" | "Unavailable" }> => {
  switch (input.op) {
    case "read":
      return Effect.map(c.read(input.key), (r) => ({
        op: "read" as const,
        revision: r.revision,
        kv: Option.match(r.kv, { onNone: () => null, onSome: record }),
      })).pipe(
        Effect.catchTags({ Compacted: Effect.die, FutureRevision: Effect.die, InvalidRequest: Effect.die }),
      )
    case "txn":
      return Effect.map(
        c.txn({ compare: input.compare, success: input.success, failure: input.failure }),
        (r): RevOutput => ({
          op: "txn",
          succeeded: r.succeeded,
          revision: r.revision,
          results: r.results.map(resultOf),
        }),
      ).pipe(
        Effect.catchTags({
          CrossSlot: Effect.die,
          LeaseNotFound: Effect.die,
          TxnTooLarge: Effect.die,
          InvalidRequest: Effect.die,
        }),
      )
    case "casRev":
      return c.casRevision(input.key, input.modRevision, input.value).pipe(
        Effect.map((r): RevOutput => ({ op: "casRev", ok: true, revision: r.revision })),
        Effect.catchTag("Conflict", (e: Conflict) =>
          Effect.succeed<RevOutput>({
            op: "casRev",
            ok: false,
            current: e.current === null ? null : text(e.current),
          }),
        ),
        Effect.catchTags({
          CrossSlot: Effect.die,
          LeaseNotFound: Effect.die,
          TxnTooLarge: Effect.die,
          InvalidRequest: Effect.die,
        }),
      )
  }
}

/** Runs `input` and records it in `history`; its output when it has one. */
export const recorded = (
  history: RevHistory,
  c: KvRevClientService,
  client: number,
  input: RevInput,
): Effect.Effect<RevOutput | undefined> =>
  Effect.gen(function* () {
    const invokedAt = history.tick()
    const atMs = yield* Clock.currentTimeMillis
    const outcome = yield* Effect.either(perform(c, input))
    if (outcome._tag === "Right") {
      history.ops.push({ client, input, output: outcome.right, invokedAt, completedAt: history.tick(), atMs })
      return outcome.right
    }
    if (outcome.left._tag === "Unavailable") {
      history.unavailable++
      return undefined
    }
    history.timeouts++
    history.ops.push({
      client,
      input,
      output: undefined,
      invokedAt,
      completedAt: Number.POSITIVE_INFINITY,
      atMs,
    })
    return undefined
  })

/** The seeded choices of one client. */
class Choices {
  private readonly rnd: SeededRandom
  private written = 0

  constructor(
    private readonly options: WorkloadOptions,
    seed: number,
  ) {
    this.rnd = new SeededRandom(seed)
  }

  int(n: number): number {
    return Math.floor(this.rnd.next() * n)
  }

  chance(p: number): boolean {
    return this.rnd.next() < p
  }

  tag(): string {
    return this.options.tags[this.int(this.options.tags.length)]!
  }

  key(tag: string): string {
    return `{${tag}}k${this.int(this.options.keys ?? 3)}`
  }

  /** A value no other write of the run uses. */
  value(): string {
    return `c${this.options.client}.${++this.written}`
  }

  txnOp(tag: string): RevTxnOp {
    const key = this.key(tag)
    const r = this.int(5)
    return r < 3
      ? { op: "put", key, value: this.value() }
      : r < 4
        ? { op: "delete", key }
        : { op: "get", key }
  }

  compare(tag: string, seen: { revision: number; values: string[] }): RevCompare {
    const key = this.key(tag)
    const result = (["=", "!=", "<", ">"] as const)[this.int(4)]!
    const t = this.int(4)
    if (t === 0) {
      const value =
        seen.values.length === 0 || this.chance(0.2) ? null : seen.values[this.int(seen.values.length)]!
      return { key, target: "value", result, value }
    }
    const target = (["modRevision", "createRevision", "version"] as const)[t - 1]!
    const number = target === "version" ? this.int(4) : Math.max(0, seen.revision - this.int(4))
    return { key, target, result, number }
  }
}

/** One client's workload (run it inside the simulation, e.g. with `KvSim.forkClient`). */
export const runClient = (
  history: RevHistory,
  c: KvRevClientService,
  options: WorkloadOptions,
): Effect.Effect<void> =>
  Effect.gen(function* () {
    const ch = new Choices(options, mixSeed(options.seed, 0x70ad, options.client))
    const seen = { revision: 0, values: [] as string[] }
    const run = (input: RevInput) =>
      Effect.tap(recorded(history, c, options.client, input), (out) => {
        if (out === undefined) return
        if ("revision" in out) seen.revision = Math.max(seen.revision, out.revision)
        if (out.op === "read" && out.kv !== null) seen.values.push(out.kv.value)
        if (seen.values.length > 8) seen.values.shift()
      })
    for (let i = 0; i < (options.ops ?? 40); i++) {
      yield* Effect.sleep(`${ch.int(options.pauseMs ?? 40)} millis`)
      const tag = ch.tag()
      const shard = tag
      const key = ch.key(tag)
      const r = ch.int(10)
      if (r < 2) yield* run({ op: "read", shard, key })
      else if (r < 3)
        yield* run({
          op: "txn",
          shard,
          compare: [],
          success: [{ op: "put", key, value: ch.value() }],
          failure: [],
        })
      else if (r < 5) {
        // Compare-and-set by value: read, then swap if the value is still the one read.
        const got = yield* run({ op: "read", shard, key })
        const expected = got?.op === "read" ? (got.kv?.value ?? null) : null
        yield* run({
          op: "txn",
          shard,
          compare: [{ key, target: "value", result: "=", value: expected }],
          success: [{ op: "put", key, value: ch.value() }],
          failure: [{ op: "get", key }],
        })
      } else if (r < 7) {
        // Compare-and-set by revision, as a lock-free update does.
        const got = yield* run({ op: "read", shard, key })
        const mod = got?.op === "read" ? (got.kv?.mod ?? 0) : 0
        yield* run({ op: "casRev", shard, key, modRevision: mod, value: ch.chance(0.2) ? null : ch.value() })
      } else {
        const compare = Array.from({ length: ch.int(3) }, () => ch.compare(tag, seen))
        const success = Array.from({ length: 1 + ch.int(3) }, () => ch.txnOp(tag))
        const failure = Array.from({ length: ch.int(3) }, () => ch.txnOp(tag))
        yield* run({ op: "txn", shard, compare, success, failure })
      }
    }
  })
