/**
 * fast-check generators and builders for transport tests: Raft messages of every remote type
 * addressed between two given nodes, with every field exercised (large safe integers, empty
 * and non-empty byte fields, undefined vs empty context, snapshot chunks), and heartbeats
 * that take the compact form.
 */
import fc from "fast-check"
import { type GroupId, MAX_GROUP_ID, type NodeId } from "../../src/raft/Ids.js"
import {
  type ConfState,
  type Entry,
  type EntryType,
  MAX_INDEX,
  MAX_TERM,
  type Message,
  MessageType,
  newMessage,
  type ReplicaId,
  type SnapshotChunk,
} from "../../src/raft/Types.js"
import type { Envelope } from "../../src/transport/Frame.js"
import { isRemoteMessageType } from "../../src/transport/Frame.js"

/** Every message type that may travel between nodes. */
export const REMOTE_TYPES: MessageType[] = Object.values(MessageType).filter((t) => isRemoteMessageType(t))

const NODE_SPAN = 0x10000

/** Small numbers mostly, up to `max` (the largest index a message may carry) sometimes. */
export const safeNat = (max: number = MAX_INDEX): fc.Arbitrary<number> =>
  fc.oneof(
    { arbitrary: fc.nat({ max: 300 }), weight: 3 },
    { arbitrary: fc.integer({ min: 0, max }), weight: 1 },
    { arbitrary: fc.constant(max), weight: 1 },
  )

/** A term a message may carry: small mostly, up to MAX_TERM sometimes. */
export const wireTerm = (): fc.Arbitrary<number> => safeNat(MAX_TERM)

/** A node id. */
export const nodeId = (): fc.Arbitrary<NodeId> => fc.integer({ min: 1, max: 0xffff }).map((n) => n as NodeId)

/** A group id. */
export const groupId = (): fc.Arbitrary<GroupId> =>
  fc.oneof(fc.nat({ max: 20_000 }), fc.integer({ min: 0, max: MAX_GROUP_ID })).map((n) => n as GroupId)

/** A replica hosted on `node`: generation 0 mostly, up to the largest safe generation. */
export const replicaOn = (node: NodeId): fc.Arbitrary<ReplicaId> =>
  fc
    .oneof(
      { arbitrary: fc.constant(0), weight: 3 },
      { arbitrary: fc.nat({ max: 5 }), weight: 2 },
      {
        arbitrary: fc.integer({ min: 0, max: Math.floor((Number.MAX_SAFE_INTEGER - node) / NODE_SPAN) }),
        weight: 1,
      },
    )
    .map((g) => (g * NODE_SPAN + node) as ReplicaId)

const anyReplica = (): fc.Arbitrary<ReplicaId> =>
  fc
    .oneof(fc.integer({ min: 1, max: 200_000 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }))
    .map((n) => n as ReplicaId)

const bytes = (maxLength: number) => fc.uint8Array({ maxLength })

const entry = (): fc.Arbitrary<Entry> =>
  fc.record({
    term: wireTerm(),
    index: safeNat(),
    type: fc.constantFrom<EntryType>(0, 1),
    data: bytes(40),
  })

/** Entries that follow `index` with consecutive indexes and runs of equal terms (compact form). */
const consecutiveEntries = (index: number, term: number): fc.Arbitrary<Entry[]> =>
  fc
    .array(fc.tuple(fc.boolean(), fc.constantFrom<EntryType>(0, 1), bytes(40)), { maxLength: 6 })
    .map((spec) => {
      let t = term
      return spec.map(([bump, type, data], i) => {
        if (bump && t < MAX_TERM) t++
        return { term: t, index: index + 1 + i, type, data }
      })
    })

const confState = (): fc.Arbitrary<ConfState> =>
  fc.record({
    voters: fc.array(anyReplica(), { maxLength: 5 }),
    learners: fc.array(anyReplica(), { maxLength: 3 }),
    votersOutgoing: fc.array(anyReplica(), { maxLength: 3 }),
    learnersNext: fc.array(anyReplica(), { maxLength: 3 }),
    autoLeave: fc.boolean(),
  })

/** A snapshot chunk whose bytes lie within the snapshot's size. */
export const snapshotChunk = (): fc.Arbitrary<SnapshotChunk> =>
  fc
    .record({
      index: safeNat(),
      term: wireTerm(),
      confState: confState(),
      offset: fc.nat({ max: 1_000_000 }),
      extra: fc.nat({ max: 1_000 }),
      data: bytes(64),
    })
    .map(({ index, term, confState, offset, extra, data }) => ({
      metadata: { index, term, confState },
      offset,
      totalBytes: offset + data.length + extra,
      data,
    }))

/** Any remote message from a replica on `from` to a replica on `to`. */
export const message = (from: NodeId, to: NodeId): fc.Arbitrary<Message> =>
  fc
    .record({
      type: fc.constantFrom(...REMOTE_TYPES),
      to: replicaOn(to),
      from: replicaOn(from),
      term: wireTerm(),
      logTerm: wireTerm(),
      index: fc.oneof(fc.nat({ max: 300 }), fc.integer({ min: 0, max: MAX_INDEX - 100 })),
      commit: safeNat(),
      reject: fc.boolean(),
      rejectHint: safeNat(),
      hintTerm: wireTerm(),
      snapshot: fc.option(snapshotChunk(), { nil: undefined }),
      context: fc.option(bytes(16), { nil: undefined }),
      entriesMode: fc.constantFrom("none", "consecutive", "random"),
      randomEntries: fc.array(entry(), { maxLength: 4 }),
      seed: fc.nat(),
    })
    .chain((r) =>
      (r.entriesMode === "consecutive"
        ? consecutiveEntries(r.index, r.term)
        : fc.constant(r.entriesMode === "random" ? r.randomEntries : [])
      ).map((entries) =>
        newMessage({
          type: r.type,
          to: r.to,
          from: r.from,
          term: r.term,
          logTerm: r.logTerm,
          index: r.index,
          entries,
          commit: r.commit,
          reject: r.reject,
          rejectHint: r.rejectHint,
          hintTerm: r.hintTerm,
          snapshot: r.snapshot,
          context: r.context,
        }),
      ),
    )

/** A heartbeat or heartbeat response that takes the compact form. */
export const heartbeat = (from: NodeId, to: NodeId): fc.Arbitrary<Message> =>
  fc
    .record({
      resp: fc.boolean(),
      to: replicaOn(to),
      from: replicaOn(from),
      term: fc.oneof(fc.constant(7), wireTerm()),
      commit: safeNat(),
      context: fc.option(bytes(8), { nil: undefined }),
    })
    .map((h) =>
      newMessage({
        type: h.resp ? MessageType.HeartbeatResp : MessageType.Heartbeat,
        to: h.to,
        from: h.from,
        term: h.term,
        commit: h.commit,
        context: h.context,
      }),
    )

/** Envelopes between two nodes: general messages and compact heartbeats, interleaved. */
export const envelopes = (from: NodeId, to: NodeId, maxLength = 12): fc.Arbitrary<Envelope[]> =>
  fc.array(fc.record({ groupId: groupId(), message: fc.oneof(message(from, to), heartbeat(from, to)) }), {
    maxLength,
  })

/** A pair of nodes and envelopes between them. */
export const framed = (): fc.Arbitrary<{ from: NodeId; to: NodeId; envelopes: Envelope[] }> =>
  fc
    .tuple(nodeId(), nodeId())
    .chain(([from, to]) => envelopes(from, to).map((envelopes) => ({ from, to, envelopes })))

/** `n` heartbeats of groups 1..n from node `from` (replica = node) to node `to`. */
export const heartbeats = (from: NodeId, to: NodeId, n: number, term = 5): Envelope[] =>
  Array.from({ length: n }, (_, i) => ({
    groupId: (i + 1) as GroupId,
    message: newMessage({
      type: MessageType.Heartbeat,
      from: from as number as ReplicaId,
      to: to as number as ReplicaId,
      term,
      commit: 1_000 + i,
    }),
  }))

/** `n` MsgApp of one `size`-byte entry each, groups 1..n. */
export const appends = (from: NodeId, to: NodeId, n: number, size = 128): Envelope[] =>
  Array.from({ length: n }, (_, i) => ({
    groupId: (i + 1) as GroupId,
    message: newMessage({
      type: MessageType.App,
      from: from as number as ReplicaId,
      to: to as number as ReplicaId,
      term: 3,
      logTerm: 3,
      index: 5_000 + i,
      commit: 4_990 + i,
      entries: [{ term: 3, index: 5_001 + i, type: 0, data: new Uint8Array(size).fill(i & 0xff) }],
    }),
  }))
