/**
 * A client of `ChecksumMachine` groups (src/testing/ChecksumMachine.ts) that talks to a
 * cluster exactly as an outside client does: requests on `<prefix>.<c>.group.<gid>` over any
 * `BusService` (the in-process `MemoryBus` of `RuntimeSim`, or a real NATS connection), retried
 * under the clients' retry policy (src/client/Retry.ts) while the group has no leader (no
 * responders, `NotLeader`), the attempt provably did not take effect (`ProposalFailed`,
 * `Overloaded`), or its outcome is unknown (a timeout, `OutcomeUnknown`, ...).
 *
 * Every operation is recorded in a `ClientHistory`, and `checkHistory` checks it against the
 * replicas' final states. A `ChecksumMachine`'s count only grows, one per applied command, so
 * with every write made through the client:
 *
 * - final count ∈ [acknowledged writes, acknowledged writes + attempts of unknown outcome]
 *   (no acknowledged write lost, nothing applied that was not sent, no `ProposalFailed`
 *   attempt applied after all);
 * - a linearizable read, or a write's reply, counts at least the writes acknowledged before
 *   it was invoked (plus itself, for a write), and at most the attempts sent before it
 *   completed (stale reads: the upper bound only);
 * - every observation of the same count carries the same checksum (one log, one state).
 *
 * Times in the history are a sequence number taken when the client sends and when it gets an
 * answer, so "before" is exact even when many operations share one millisecond.
 */
import { Data, Duration, Effect, Random } from "effect"
import * as Retry from "../client/Retry.js"
import type { GroupId } from "../raft/Ids.js"
import type { BusService } from "../transport/Bus.js"
import { clusterSubjects } from "../transport/Subjects.js"

/** A `ChecksumMachine`'s state, as its replies carry it. */
export interface MachineState {
  readonly count: number
  readonly checksum: number
}

/** The client gave up on an operation (its deadline passed). */
export class ClientGaveUp extends Data.TaggedError("ClientGaveUp")<{
  readonly group: number
  readonly op: "write" | "read"
  readonly attempts: number
  readonly lastError: string
  readonly message: string
}> {}

/** A reply the client cannot accept (a `BadRequest`, an unknown error, or not JSON). */
export class UnexpectedReply extends Data.TaggedError("UnexpectedReply")<{
  readonly group: number
  readonly reply: string
  readonly message: string
}> {}

/** What the client can fail with. */
export type ClientError = ClientGaveUp | UnexpectedReply

/** How an attempt ended. */
export type AttemptOutcome = "ok" | "rejected" | "unknown"

/** One request sent for an operation. */
export interface Attempt {
  /** Sequence number when it was sent. */
  readonly sent: number
  outcome: AttemptOutcome | "pending"
  /** The error it got (when not ok). */
  error?: string
}

/** One operation in the history. */
export interface OperationRecord {
  readonly op: "write" | "read"
  readonly group: number
  readonly stale: boolean
  readonly invoked: number
  completed: number | undefined
  readonly attempts: Attempt[]
  result: MachineState | undefined
}

/**
 * Replies that say the attempt did not take effect: retry at once (after backoff). A
 * `NotLeader` comes from a replica that did not propose; `ProposalFailed` from a leader whose
 * entry lost its slot; `Overloaded` before anything was queued.
 */
const REJECTED = new Set(["NotLeader", "ProposalFailed", "Overloaded", "GroupNotFound"])
/** Replies after which the command may or may not have been applied. */
const UNKNOWN = new Set(["NodeStopping", "GroupStopped", "OutcomeUnknown"])

/** An attempt that did not succeed but may after a wait (`error`: what it got). */
class TryAgain extends Data.TaggedError("TryAgain")<{ readonly error: string }> {}

const isTryAgain = (e: TryAgain | UnexpectedReply): e is TryAgain => e._tag === "TryAgain"

/** Every operation a client made, in the order they were invoked. */
export class ClientHistory {
  private seq = 0
  readonly operations: OperationRecord[] = []

  /** The next sequence number. */
  next(): number {
    return ++this.seq
  }

  /** Per group: acknowledged writes, attempts of unknown outcome, writes not finished. */
  writeSummary(): Map<number, { acked: number; unknown: number; pending: number }> {
    const out = new Map<number, { acked: number; unknown: number; pending: number }>()
    for (const o of this.operations) {
      if (o.op !== "write") continue
      let s = out.get(o.group)
      if (s === undefined) out.set(o.group, (s = { acked: 0, unknown: 0, pending: 0 }))
      if (o.result !== undefined) s.acked++
      if (o.completed === undefined) s.pending++
      for (const a of o.attempts) if (a.outcome === "unknown" || a.outcome === "pending") s.unknown++
    }
    return out
  }
}

/**
 * Checks `history` against the final state of each group (e.g. from stale reads of converged
 * replicas); returns one line per violation (empty: the history is consistent). Groups in
 * `finals` that the history never wrote must have count 0.
 */
export const checkHistory = (history: ClientHistory, finals: ReadonlyMap<number, MachineState>): string[] => {
  const problems: string[] = []
  const byGroup = new Map<number, OperationRecord[]>()
  for (const o of history.operations) {
    let list = byGroup.get(o.group)
    if (list === undefined) byGroup.set(o.group, (list = []))
    list.push(o)
  }
  const summary = history.writeSummary()
  for (const [g, final] of finals) {
    const s = summary.get(g) ?? { acked: 0, unknown: 0, pending: 0 }
    if (final.count < s.acked)
      problems.push(
        `group ${g}: final count ${final.count} < ${s.acked} acknowledged writes (a write was lost)`,
      )
    if (final.count > s.acked + s.unknown)
      problems.push(
        `group ${g}: final count ${final.count} > ${s.acked} acknowledged + ${s.unknown} of unknown outcome (a write applied twice, or a rejected attempt applied)`,
      )
  }
  for (const [g, ops] of byGroup) {
    // Writes acknowledged, by completion sequence; attempts, by send sequence.
    const ackedAt = ops
      .filter((o) => o.op === "write" && o.result !== undefined)
      .map((o) => o.completed!)
      .sort((a, b) => a - b)
    const sentAt = ops
      .filter((o) => o.op === "write")
      .flatMap((o) => o.attempts.map((a) => a.sent))
      .sort((a, b) => a - b)
    const countBelow = (sorted: number[], x: number) => {
      let lo = 0
      let hi = sorted.length
      while (lo < hi) {
        const mid = (lo + hi) >>> 1
        if (sorted[mid]! < x) lo = mid + 1
        else hi = mid
      }
      return lo
    }
    const checksumOf = new Map<number, number>()
    const final = finals.get(g)
    if (final !== undefined) checksumOf.set(final.count, final.checksum)
    for (const o of ops) {
      if (o.result === undefined || o.completed === undefined) continue
      const c = o.result.count
      const seen = checksumOf.get(c)
      if (seen === undefined) checksumOf.set(c, o.result.checksum)
      else if (seen !== o.result.checksum)
        problems.push(
          `group ${g}: two states with count ${c}: checksums ${seen} and ${o.result.checksum} (replicas diverged)`,
        )
      const upper = countBelow(sentAt, o.completed)
      if (c > upper)
        problems.push(
          `group ${g}: ${o.op} #${o.invoked} saw count ${c}, but only ${upper} write attempts had been sent`,
        )
      if (o.stale) continue
      const lower = countBelow(ackedAt, o.invoked) + (o.op === "write" ? 1 : 0)
      if (c < lower)
        problems.push(
          `group ${g}: ${o.op} #${o.invoked} saw count ${c}, but ${lower} writes had been acknowledged before it (stale)`,
        )
    }
  }
  return problems
}

/** Options of a `ChecksumClient`. */
export interface ChecksumClientOptions {
  readonly cluster: string
  readonly subjectPrefix?: string
  /** Per request (default 1,000 ms). A timed-out write's outcome is unknown. */
  readonly requestTimeoutMs?: number
  /** Backoff between attempts (default: the clients', 10 ms doubling up to 500 ms). */
  readonly backoff?: Partial<Retry.Backoff>
  /** An operation fails with `ClientGaveUp` after this long (default 60,000 ms). */
  readonly deadlineMs?: number
  /** Seeds the backoff's jitter of each operation (a source in [0, 1)). Default: `Random`. */
  readonly random?: () => number
  /** Where operations are recorded (default: a new history). */
  readonly history?: ClientHistory
}

/** A mixed workload of writes (and optional linearizable reads) spread over groups. */
export interface WorkloadOptions {
  readonly groups: ReadonlyArray<number>
  /** Writes in total; write i goes to `groups[i % groups.length]`. */
  readonly writes: number
  /** Writers running at once (default 32). */
  readonly concurrency?: number
  /** Payloads are `<prefix>-<i>` (default "w"). */
  readonly prefix?: string
  /** After every `readEvery`-th write, a linearizable read of the same group (default: none). */
  readonly readEvery?: number
  /** Each writer pauses this long between its operations, to spread them over time (default 0). */
  readonly pauseMs?: number
}

/** What a workload did. */
export interface WorkloadReport {
  readonly writes: number
  readonly reads: number
  readonly attempts: number
  /** Attempts whose outcome stayed unknown (timeouts, `OutcomeUnknown`, `NodeStopping`, `GroupStopped`). */
  readonly unknown: number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

type Parsed =
  | { readonly _tag: "State"; readonly state: MachineState }
  | { readonly _tag: "Error"; readonly error: string; readonly message: string }
  | { readonly _tag: "Garbage"; readonly text: string }

const parseReply = (bytes: Uint8Array): Parsed => {
  const text = decoder.decode(bytes)
  try {
    const v = JSON.parse(text) as { count?: unknown; checksum?: unknown; error?: unknown; message?: unknown }
    if (typeof v.count === "number" && typeof v.checksum === "number")
      return { _tag: "State", state: { count: v.count, checksum: v.checksum } }
    if (typeof v.error === "string")
      return { _tag: "Error", error: v.error, message: typeof v.message === "string" ? v.message : "" }
  } catch {
    // not JSON: reported below
  }
  return { _tag: "Garbage", text }
}

/** A client of `ChecksumMachine` groups; see the module comment. */
export class ChecksumClient {
  readonly history: ClientHistory
  private readonly subjects: ReturnType<typeof clusterSubjects>
  private readonly timeoutMs: number
  private readonly backoff: Retry.Backoff
  private readonly deadlineMs: number
  private readonly random: (() => number) | undefined

  constructor(
    readonly bus: BusService,
    options: ChecksumClientOptions,
  ) {
    this.subjects = clusterSubjects(options.cluster, options.subjectPrefix)
    this.timeoutMs = options.requestTimeoutMs ?? 1000
    this.backoff = { ...Retry.clientBackoff, ...options.backoff }
    this.deadlineMs = options.deadlineMs ?? 60_000
    this.random = options.random
    this.history = options.history ?? new ClientHistory()
  }

  /** Replicates `w<payload>` in `group`; succeeds with the state right after it applied. */
  write(group: number, payload: string): Effect.Effect<MachineState, ClientError> {
    return this.operation("write", group, encoder.encode(`w${payload}`), false)
  }

  /** Reads `group`'s state: linearizable (ReadIndex at the leader) unless `stale`. */
  read(group: number, options?: { readonly stale?: boolean }): Effect.Effect<MachineState, ClientError> {
    const stale = options?.stale === true
    return this.operation("read", group, encoder.encode(stale ? "s" : "r"), stale)
  }

  /** Runs a workload (see `WorkloadOptions`) and reports what it did. */
  workload(options: WorkloadOptions): Effect.Effect<WorkloadReport, ClientError> {
    const self = this
    return Effect.gen(function* () {
      const first = self.history.operations.length
      let next = 0
      const prefix = options.prefix ?? "w"
      const worker = Effect.gen(function* () {
        for (;;) {
          const i = next++
          if (i >= options.writes) return
          const g = options.groups[i % options.groups.length]!
          yield* self.write(g, `${prefix}-${i}`)
          if (options.readEvery !== undefined && (i + 1) % options.readEvery === 0) yield* self.read(g)
          if (options.pauseMs !== undefined && options.pauseMs > 0)
            yield* Effect.sleep(Duration.millis(options.pauseMs))
        }
      })
      const n = Math.max(1, Math.min(options.concurrency ?? 32, options.writes))
      yield* Effect.all(
        Array.from({ length: n }, () => worker),
        { concurrency: "unbounded", discard: true },
      )
      let writes = 0
      let reads = 0
      let attempts = 0
      let unknown = 0
      for (const o of self.history.operations.slice(first)) {
        if (o.op === "write") writes++
        else reads++
        attempts += o.attempts.length
        for (const a of o.attempts) if (a.outcome === "unknown") unknown++
      }
      return { writes, reads, attempts, unknown }
    })
  }

  private operation(
    op: "write" | "read",
    group: number,
    body: Uint8Array,
    stale: boolean,
  ): Effect.Effect<MachineState, ClientError> {
    const self = this
    return Effect.gen(function* () {
      const record: OperationRecord = {
        op,
        group,
        stale,
        invoked: self.history.next(),
        completed: undefined,
        attempts: [],
        result: undefined,
      }
      self.history.operations.push(record)
      const deadlineAt = (yield* Effect.clockWith((c) => c.currentTimeMillis)) + self.deadlineMs
      const run = Retry.run(self.attempt(record, body), {
        backoff: self.backoff,
        deadlineAt,
        retryable: isTryAgain,
        onExpiry: (last, attempts) => {
          record.completed = self.history.next()
          return new ClientGaveUp({
            group,
            op,
            attempts,
            lastError: last.error,
            message: `group ${group}: ${op} gave up after ${attempts} attempts in ${self.deadlineMs} ms (last: ${last.error})`,
          })
        },
      })
      return yield* self.random === undefined ? run : Effect.withRandom(run, Random.make(self.random()))
    })
  }

  /** One request of `record`'s operation, recorded with its outcome. */
  private attempt(
    record: OperationRecord,
    body: Uint8Array,
  ): Effect.Effect<MachineState, TryAgain | UnexpectedReply> {
    const self = this
    const { op, group } = record
    return Effect.gen(function* () {
      const attempt: Attempt = { sent: self.history.next(), outcome: "pending" }
      record.attempts.push(attempt)
      const subject = self.subjects.group(group as GroupId)
      const r = yield* Effect.either(self.bus.request(subject, body, { timeout: self.timeoutMs }))
      if (r._tag === "Right") {
        const parsed = parseReply(r.right)
        if (parsed._tag === "State") {
          attempt.outcome = "ok"
          record.completed = self.history.next()
          record.result = parsed.state
          return parsed.state
        }
        if (parsed._tag === "Garbage" || (!REJECTED.has(parsed.error) && !UNKNOWN.has(parsed.error))) {
          attempt.outcome = "unknown"
          record.completed = self.history.next()
          const text = parsed._tag === "Garbage" ? parsed.text : `${parsed.error}: ${parsed.message}`
          return yield* new UnexpectedReply({
            group,
            reply: text,
            message: `group ${group}: unexpected reply to a ${op}: ${text}`,
          })
        }
        attempt.outcome = REJECTED.has(parsed.error) ? "rejected" : "unknown"
        attempt.error = parsed.error
      } else {
        // No subscriber: nobody proposed it. A timeout: somebody may have.
        attempt.outcome = r.left._tag === "NoResponders" ? "rejected" : "unknown"
        attempt.error = r.left._tag
      }
      // A read changes nothing, whatever its outcome.
      if (op === "read") attempt.outcome = "rejected"
      return yield* new TryAgain({ error: attempt.error })
    })
  }
}
