/**
 * The state machine of one KV shard: the basic operations of `Kv.ts` and the revisioned ones
 * of `KvRev.ts` over a multi-version store (`Mvcc.ts`) and a lease table (`Leases.ts`), with
 * the client sessions and the shard clock of every entity shard. It speaks the entity wire
 * format (`Wire.ts`): the same requests, replies, scans and counts as an entity shard of `Kv`,
 * so existing clients work unchanged.
 *
 * CONTRACT (the `StateMachine` contract and `ShardStateMachine`'s): neither `apply` nor `query`
 * throws; a request answered with an error changes nothing but the shard clock; the outcome
 * depends only on the state, the request bytes and the log index; the clock is the leader's
 * stamp in the request (never a clock read here).
 */
import { Either } from "effect"
import * as Cbor from "../../src/runtime/entity/Cbor.js"
import {
  type EntityError,
  HandlerDefect,
  InvalidEntityId,
  InvalidPayload,
  UnknownOperation,
} from "../../src/runtime/entity/EntityError.js"
import { invalidReason, slotOf } from "../../src/runtime/entity/EntityId.js"
import type { Operation } from "../../src/runtime/entity/EntityKind.js"
import { defaultLimits, type SessionLimits, SessionTable } from "../../src/runtime/entity/Sessions.js"
import {
  type EntityRequest,
  type ReadRequest,
  ShardRequests,
} from "../../src/runtime/entity/ShardRequests.js"
import * as ShardScan from "../../src/runtime/entity/ShardScan.js"
import * as Wire from "../../src/runtime/entity/Wire.js"
import type { StateMachine } from "../../src/runtime/StateMachine.js"
import { KIND, KvProtocol } from "./Kv.js"
import * as Apply from "./KvApply.js"
import { KvRevProtocol } from "./KvRev.js"
import * as KvSnapshot from "./KvSnapshot.js"
import { type LeaseDeadline, LeaseTable } from "./Leases.js"
import { defaultRetention, MvccStore, type Retention } from "./Mvcc.js"

/** Options of a KV shard. EVERY REPLICA OF A SHARD MUST USE THE SAME VALUES. */
export interface KvShardOptions {
  readonly sessions?: Partial<SessionLimits>
  readonly retention?: Partial<Retention>
}

const operations = new Map<string, Operation>([...KvProtocol.operations, ...KvRevProtocol.operations])

/** Hosts the keys of one KV shard. */
export class KvStateMachine implements StateMachine {
  /** Decoding, the shard clock and exactly-once sessions (ShardRequests.ts). */
  private readonly requests: ShardRequests
  private state: Apply.KvState
  private readonly limits: SessionLimits
  private readonly retention: Retention

  constructor(options: KvShardOptions = {}) {
    this.limits = { ...defaultLimits, ...options.sessions }
    this.retention = { ...defaultRetention, ...options.retention }
    this.requests = new ShardRequests(KIND, new SessionTable(this.limits), {
      run: (request, index) => this.run(request, index),
      read: (request) => this.read(request),
    })
    this.state = { store: new MvccStore(this.retention), leases: new LeaseTable() }
  }

  /** Number of live keys. */
  get entityCount(): number {
    return this.state.store.live.size
  }

  /** The shard revision. */
  get revision(): number {
    return this.state.store.revision
  }

  /** The shard clock (latest proposer time seen, ms). */
  get time(): number {
    return this.requests.clock
  }

  /** Every lease's deadline: what the leader's expiry timer watches. */
  leaseDeadlines(): LeaseDeadline[] {
    return this.state.leases.deadlines()
  }

  /** Whether the shard holds any lease. */
  get hasLeases(): boolean {
    return this.state.leases.size > 0
  }

  /**
   * Calls `f` once, as soon as the shard holds a lease (at once if it does); the result cancels.
   * The leader's expiry task waits here instead of ticking while there is nothing to expire.
   */
  whenLeased(f: () => void): () => void {
    if (this.hasLeases) {
      f()
      return () => {}
    }
    this.leaseWaiter = f
    return () => {
      if (this.leaseWaiter === f) this.leaseWaiter = undefined
    }
  }

  private leaseWaiter: (() => void) | undefined

  /** Wakes the task waiting in `whenLeased` once a lease exists. */
  private notifyLeased(): void {
    const f = this.leaseWaiter
    if (f === undefined || !this.hasLeases) return
    this.leaseWaiter = undefined
    f()
  }

  apply(command: Uint8Array, index: number): Uint8Array {
    const reply = this.requests.apply(command, index)
    if (this.leaseWaiter !== undefined) this.notifyLeased()
    return reply
  }

  query(request: Uint8Array): Uint8Array {
    return this.requests.query(request)
  }

  snapshot(): Uint8Array {
    return KvSnapshot.encode({ clock: this.requests.clock, sessions: this.requests.sessions, ...this.state })
  }

  restore(snapshot: Uint8Array): void {
    const s = KvSnapshot.decode(snapshot, this.limits, this.retention)
    this.requests.clock = s.clock
    this.requests.sessions = s.sessions
    this.state = { store: s.store, leases: s.leases }
    this.notifyLeased()
  }

  private read(request: ReadRequest): Uint8Array {
    switch (request.type) {
      case "query":
        return this.run(request, 0)
      case "count":
        return Wire.successReply(this.state.store.live.size)
      case "scan":
        return Either.match(
          ShardScan.run(this.state.store.live, request.range, (v) => Cbor.encode(v.value)),
          { onLeft: Wire.errorReply, onRight: (reply) => reply },
        )
    }
  }

  private prepare(request: EntityRequest): Either.Either<{ op: Operation; payload: unknown }, EntityError> {
    const op = operations.get(request.operation)
    if (op === undefined || op.type !== request.type)
      return Either.left(new UnknownOperation({ kind: KIND, operation: request.operation }))
    const invalid = invalidReason(request.entityId)
    if (invalid !== undefined) return Either.left(new InvalidEntityId({ reason: invalid }))
    const payload = op.payload.decode(request.payload)
    if (Either.isLeft(payload))
      return Either.left(new InvalidPayload({ operation: op.name, reason: payload.left }))
    return Either.right({ op, payload: payload.right })
  }

  /** Runs a command (at `index`) or a query (index 0) and encodes its outcome. */
  private run(request: EntityRequest, index: number): Uint8Array {
    const prepared = this.prepare(request)
    if (Either.isLeft(prepared)) return Wire.errorReply(prepared.left)
    const { op, payload } = prepared.right
    const key = request.entityId
    const ctx: Apply.ApplyContext = { index, time: this.requests.clock, slot: slotOf(key) }
    const outcome = this.dispatch(op.name, key, payload as Record<string, never>, ctx)
    const defect = (reason: string) => Wire.errorReply(new HandlerDefect({ operation: op.name, reason }))
    if (!outcome.ok) {
      const failure = op.failure.encode(outcome.error)
      return Either.isLeft(failure) ? defect(failure.left) : Wire.failureReply(failure.right)
    }
    const success = op.success.encode(outcome.value)
    return Either.isLeft(success) ? defect(success.left) : Wire.successReply(success.right)
  }

  private dispatch(
    name: string,
    key: Uint8Array,
    // biome-ignore lint/suspicious/noExplicitAny: payloads were decoded with the operation's schema
    p: any,
    ctx: Apply.ApplyContext,
  ): Apply.Outcome<unknown> {
    const s = this.state
    switch (name) {
      case "Put":
        return Apply.put(s, key, p.value, ctx.time)
      case "Delete":
        return Apply.remove(s, key, ctx.time)
      case "Cas":
        return Apply.cas(s, key, p.expected, p.value, ctx.time)
      case "Get":
        return { ok: true, value: s.store.get(key)?.value ?? null }
      case "Txn":
        return Apply.txn(s, ctx, p)
      case "LeaseGrant":
        return Apply.leaseGrant(s, ctx, key, p.ttlMs)
      case "LeaseKeepAlive":
        return Apply.leaseKeepAlive(s, ctx, p.lease)
      case "LeaseRevoke":
        return Apply.leaseRevoke(s, ctx, p.lease)
      case "LeaseExpire":
        return Apply.leaseExpire(s, ctx, p.leases)
      case "LeaseTimeToLive":
        return Apply.leaseTimeToLive(s, ctx, p.lease)
      case "Read":
        return Apply.read(s, key, p.revision)
      case "Events":
        return Apply.events(s, p.from, p.prefix, p.limit)
      default:
        return { ok: false, error: new UnknownOperation({ kind: KIND, operation: name }) }
    }
  }
}
