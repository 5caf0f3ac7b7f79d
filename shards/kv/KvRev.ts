/**
 * The revisioned operations of the KV shard (issue 17): reads that return revisions and can
 * read the past, etcd-style transactions, leases and the event log that watches read. They
 * share the kind name `kv` with the basic operations of `Kv.ts` and the same wire format; only
 * the MVCC shard (`KvStateMachine`) serves them.
 *
 * Every operation is addressed to one key (the entity id of the request), which chooses the
 * shard. A transaction's keys, and the keys attached to a lease, MUST HAVE THE SAME HASH SLOT as
 * that key (use a hash tag, `{...}`): otherwise the shard refuses with `CrossSlot` and changes
 * nothing. Same slot, not merely same shard, so that a transaction valid today stays valid when
 * slots move between shards.
 */
import { Schema } from "effect"
import { EntityKind } from "../../src/runtime/entity/index.js"
import { KIND, ValueTooLarge } from "./Kv.js"

const Bytes = Schema.Uint8ArrayFromSelf
const Revision = Schema.Int.pipe(Schema.nonNegative())
const LeaseId = Schema.Int.pipe(Schema.nonNegative())
/** Lease TTLs: 1 ms .. 1 day. */
export const MAX_TTL_MS = 86_400_000
const Ttl = Schema.Int.pipe(Schema.between(1, MAX_TTL_MS))
/** Most compares and most operations of one transaction (etcd's default limit). */
export const MAX_TXN_OPS = 128

/** A live key with its revisions. */
export const KeyValue = Schema.Struct({
  key: Bytes,
  value: Bytes,
  createRevision: Revision,
  modRevision: Revision,
  version: Revision,
  lease: LeaseId,
})
export type KeyValue = typeof KeyValue.Type

/** A read at a revision already compacted away. */
export class Compacted extends Schema.TaggedError<Compacted>()("Compacted", {
  requested: Schema.Number,
  compacted: Schema.Number,
}) {}

/** A read at a revision the shard has not reached. */
export class FutureRevision extends Schema.TaggedError<FutureRevision>()("FutureRevision", {
  requested: Schema.Number,
  current: Schema.Number,
}) {}

/** A key of the request does not share the slot of the key the request is addressed to. */
export class CrossSlot extends Schema.TaggedError<CrossSlot>()("CrossSlot", {
  key: Schema.String,
  slot: Schema.Number,
  expectedSlot: Schema.Number,
}) {}

/** The lease does not exist in this slot (never granted, revoked or expired). */
export class LeaseNotFound extends Schema.TaggedError<LeaseNotFound>()("LeaseNotFound", {
  lease: Schema.Number,
}) {}

/** A transaction with too many compares or operations. */
export class TxnTooLarge extends Schema.TaggedError<TxnTooLarge>()("TxnTooLarge", {
  count: Schema.Number,
  limit: Schema.Number,
}) {}

/** A comparison of a transaction: `key`'s `target` `result` the given operand. */
export const Compare = Schema.Union(
  /** Compares the value (null: the key is absent); `<` and `>` compare bytes, absent is never ordered. */
  Schema.Struct({
    key: Bytes,
    target: Schema.Literal("value"),
    result: Schema.Literal("=", "!=", "<", ">"),
    value: Schema.NullOr(Bytes),
  }),
  /** Compares a number of the key; an absent key has 0 for each. */
  Schema.Struct({
    key: Bytes,
    target: Schema.Literal("modRevision", "createRevision", "version", "lease"),
    result: Schema.Literal("=", "!=", "<", ">"),
    number: Schema.Int,
  }),
)
export type Compare = typeof Compare.Type

/** An operation of a transaction. */
export const TxnOp = Schema.Union(
  /** Sets `key`; `lease` absent or 0 attaches none; `ttlMs` grants a new lease for this key. */
  Schema.Struct({
    op: Schema.Literal("put"),
    key: Bytes,
    value: Bytes,
    lease: Schema.optional(LeaseId),
    ttlMs: Schema.optional(Ttl),
  }),
  Schema.Struct({ op: Schema.Literal("delete"), key: Bytes }),
  Schema.Struct({ op: Schema.Literal("get"), key: Bytes }),
)
export type TxnOp = typeof TxnOp.Type

/** The result of one operation of a transaction, in the order of the operations. */
export const TxnOpResult = Schema.Union(
  Schema.Struct({ op: Schema.Literal("put"), prev: Schema.NullOr(KeyValue), lease: LeaseId }),
  Schema.Struct({ op: Schema.Literal("delete"), prev: Schema.NullOr(KeyValue) }),
  Schema.Struct({ op: Schema.Literal("get"), kv: Schema.NullOr(KeyValue) }),
)
export type TxnOpResult = typeof TxnOpResult.Type

/** One event of the shard's log: a put or a delete at `(revision, sub)`. */
export const Event = Schema.Struct({
  type: Schema.Literal("put", "delete"),
  key: Bytes,
  /** Null for a delete. */
  value: Schema.NullOr(Bytes),
  revision: Revision,
  sub: Revision,
  createRevision: Revision,
  version: Revision,
  lease: LeaseId,
})
export type Event = typeof Event.Type

/** Most events in one `Events` reply. */
export const MAX_EVENTS_PAGE = 1000

/** The revisioned KV protocol (kind `kv`). */
export const KvRevProtocol = EntityKind.make(KIND, {
  state: Schema.Null,
  initial: null,
  commands: {
    /**
     * If every compare holds, runs `success`, else `failure`, atomically, as one revision.
     * `revision` is the shard revision after the transaction.
     */
    Txn: {
      payload: {
        compare: Schema.Array(Compare),
        success: Schema.Array(TxnOp),
        failure: Schema.Array(TxnOp),
      },
      success: Schema.Struct({
        succeeded: Schema.Boolean,
        revision: Revision,
        results: Schema.Array(TxnOpResult),
      }),
      failure: Schema.Union(CrossSlot, LeaseNotFound, TxnTooLarge, ValueTooLarge),
    },
    /** Grants a lease of `ttlMs` in the slot of the addressed key. */
    LeaseGrant: {
      payload: { ttlMs: Ttl },
      success: Schema.Struct({ lease: LeaseId, ttlMs: Ttl }),
    },
    /** Restarts the lease's time to live. */
    LeaseKeepAlive: {
      payload: { lease: LeaseId },
      success: Schema.Struct({ ttlMs: Ttl }),
      failure: LeaseNotFound,
    },
    /** Ends the lease, deleting its keys (one revision when there were keys). */
    LeaseRevoke: {
      payload: { lease: LeaseId },
      success: Schema.Struct({ revision: Revision, deleted: Schema.Int }),
      failure: LeaseNotFound,
    },
    /**
     * Proposed by the shard leader: ends the leases among `leases` whose deadline the shard
     * clock (this command's leader stamp) has passed; others are left alone.
     */
    LeaseExpire: {
      payload: { leases: Schema.Array(LeaseId) },
      success: Schema.Struct({ expired: Schema.Array(LeaseId), revision: Revision }),
    },
  },
  queries: {
    /** The key at `revision` (null: now), with the shard revision the read saw. */
    Read: {
      payload: { revision: Schema.NullOr(Revision) },
      success: Schema.Struct({ revision: Revision, kv: Schema.NullOr(KeyValue) }),
      failure: Schema.Union(Compacted, FutureRevision),
    },
    /**
     * The shard's events from revision `from` on, for keys starting with `prefix`; `next` is
     * where to continue, `revision` the shard revision the read saw. The addressed key only
     * picks the shard.
     */
    Events: {
      payload: { from: Revision, prefix: Bytes, limit: Schema.Int.pipe(Schema.between(1, MAX_EVENTS_PAGE)) },
      success: Schema.Struct({ events: Schema.Array(Event), next: Revision, revision: Revision }),
      failure: Compacted,
    },
    /** The lease's TTL, the time left by the shard clock, and its number of keys. */
    LeaseTimeToLive: {
      payload: { lease: LeaseId },
      success: Schema.Struct({ ttlMs: Ttl, remainingMs: Schema.Int, keys: Schema.Int }),
      failure: LeaseNotFound,
    },
  },
})
