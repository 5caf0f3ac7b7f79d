/**
 * The Raft core's data vocabulary: entries, hard state, configuration state, snapshots and
 * messages. Names follow etcd-io/raft (`HardState`, `ConfState`, `MsgApp`, ...) so papers,
 * scenarios and other implementations map one to one.
 *
 * Terms and log indexes are plain non-negative safe integers (`Term`, `Index`): the core does
 * arithmetic on them everywhere and a brand would only add casts (docs/decisions/0002).
 * Replica ids are branded: they are names, never counted. etcd calls them node ids; in Flotilla
 * a node is a process hosting many replicas, so the core says replica (see Ids.ts).
 */

/** A log index. 0 means "none"; the first real entry has index 1. */
export type Index = number
/** A Raft term. 0 means "none". */
export type Term = number

/**
 * Largest term a message may carry. Far below 2^53 so that `term + 1` (a campaign) is always
 * a safe integer the frame codec can encode: a forged huge term is refused at the boundary
 * instead of poisoning the core (issue 11, finding 1). No real group gets near it.
 */
export const MAX_TERM: Term = 2 ** 48 - 1
/**
 * Largest log index (or byte count of a snapshot) a message may carry: `index + entries`
 * stays a safe integer. 2^52 entries at a million per second last 142 years.
 */
export const MAX_INDEX: Index = 2 ** 52 - 1

/** True for a term a message may carry (0 ..= MAX_TERM). */
export const isWireTerm = (n: unknown): n is Term =>
  typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= MAX_TERM
/** True for an index a message may carry (0 ..= MAX_INDEX). */
export const isWireIndex = (n: unknown): n is Index =>
  typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= MAX_INDEX

/** A replica (etcd: "node") id inside one group: a positive safe integer. */
export type ReplicaId = number & { readonly ReplicaId: unique symbol }
/** Makes a `ReplicaId`; throws on anything but a positive safe integer (a bug, not input). */
export const ReplicaId = (n: number): ReplicaId => {
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new RangeError(`replica id must be a positive safe integer, got ${n}`)
  return n as ReplicaId
}
/** "No node": used for `vote` and `lead` when there is none. */
export const None = 0 as ReplicaId

/** True for a value that can be a node id. */
export const isReplicaId = (n: unknown): n is ReplicaId =>
  typeof n === "number" && Number.isSafeInteger(n) && n > 0

export const EntryType = {
  /** An application command (or an empty entry appended by a new leader). */
  Normal: 0,
  /** A membership change (`ConfChange` encoded with `encodeConfChange`). */
  ConfChange: 1,
} as const
export type EntryType = (typeof EntryType)[keyof typeof EntryType]

/** One log entry. `data` is opaque to the core for normal entries. */
export interface Entry {
  readonly term: Term
  readonly index: Index
  readonly type: EntryType
  readonly data: Uint8Array
}

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0)

/** The state that MUST be on stable storage before any message depending on it is sent. */
export interface HardState {
  readonly term: Term
  readonly vote: ReplicaId
  readonly commit: Index
}

export const emptyHardState: HardState = { term: 0, vote: None, commit: 0 }

export const isEmptyHardState = (hs: HardState): boolean =>
  hs.term === 0 && hs.vote === None && hs.commit === 0

export const hardStateEqual = (a: HardState, b: HardState): boolean =>
  a.term === b.term && a.vote === b.vote && a.commit === b.commit

/**
 * The membership of a group. During a joint configuration `votersOutgoing` is non-empty and
 * decisions need a majority of both `voters` and `votersOutgoing`. `learnersNext` are nodes
 * that will become learners when the joint configuration is left (they are outgoing voters now).
 */
export interface ConfState {
  readonly voters: readonly ReplicaId[]
  readonly learners: readonly ReplicaId[]
  readonly votersOutgoing: readonly ReplicaId[]
  readonly learnersNext: readonly ReplicaId[]
  /** Leave the joint configuration automatically once it is applied. */
  readonly autoLeave: boolean
}

export const emptyConfState: ConfState = {
  voters: [],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
}

export interface SnapshotMetadata {
  readonly index: Index
  readonly term: Term
  readonly confState: ConfState
}

/** A state machine snapshot: the state after applying every entry up to `metadata.index`. */
export interface Snapshot {
  readonly metadata: SnapshotMetadata
  readonly data: Uint8Array
}

export const emptySnapshot: Snapshot = {
  metadata: { index: 0, term: 0, confState: emptyConfState },
  data: EMPTY_BYTES,
}

export const isEmptySnapshot = (s: Snapshot | undefined): boolean => s === undefined || s.metadata.index === 0

/**
 * One piece of a snapshot in flight (InstallSnapshot in chunks). The chunks of one snapshot
 * share `metadata`; `offset` is the byte offset of `data` within the snapshot's data and
 * `totalBytes` the full size. The receiver installs the snapshot once it holds every byte.
 */
export interface SnapshotChunk {
  readonly metadata: SnapshotMetadata
  readonly offset: number
  readonly totalBytes: number
  readonly data: Uint8Array
}

export const MessageType = {
  /** Local: start an election (from `campaign()` or an election timeout). */
  Hup: 0,
  /** Local: leader's heartbeat timeout. */
  Beat: 1,
  /** Local: a proposal. */
  Prop: 2,
  /** AppendEntries. */
  App: 3,
  AppResp: 4,
  Vote: 5,
  VoteResp: 6,
  /** One chunk of InstallSnapshot. */
  Snap: 7,
  Heartbeat: 8,
  HeartbeatResp: 9,
  /** Local: the transport could not reach `from`. */
  Unreachable: 10,
  /** Local: the application reports a failed snapshot transfer. */
  SnapStatus: 11,
  /** Local: leader checks it still hears from a quorum. */
  CheckQuorum: 12,
  TransferLeader: 13,
  TimeoutNow: 14,
  ReadIndex: 15,
  ReadIndexResp: 16,
  PreVote: 17,
  PreVoteResp: 18,
  /** Acknowledges (or refuses) a snapshot chunk: flow control for InstallSnapshot. */
  SnapResp: 19,
} as const
export type MessageType = (typeof MessageType)[keyof typeof MessageType]

export const messageTypeName = (t: MessageType): string => MESSAGE_TYPE_NAMES[t] ?? `Unknown(${t})`
const MESSAGE_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(MessageType).map(([k, v]) => [v, `Msg${k}`]),
)

/** Message types that never leave a node. */
export const isLocalMessage = (t: MessageType): boolean =>
  t === MessageType.Hup ||
  t === MessageType.Beat ||
  t === MessageType.Unreachable ||
  t === MessageType.SnapStatus ||
  t === MessageType.CheckQuorum

/** Responses: never start an election, never disrupt a leader. */
export const isResponseMessage = (t: MessageType): boolean =>
  t === MessageType.AppResp ||
  t === MessageType.VoteResp ||
  t === MessageType.HeartbeatResp ||
  t === MessageType.Unreachable ||
  t === MessageType.ReadIndexResp ||
  t === MessageType.PreVoteResp ||
  t === MessageType.SnapResp

/**
 * A Raft message. One shape for every type (fields a type does not use hold their zero value)
 * so that hot code stays monomorphic; `newMessage` fills the zeros.
 */
export interface Message {
  readonly type: MessageType
  readonly to: ReplicaId
  readonly from: ReplicaId
  readonly term: Term
  /** Term of the entry at `index` (App), or of the candidate's last entry (Vote). */
  readonly logTerm: Term
  readonly index: Index
  readonly entries: readonly Entry[]
  readonly commit: Index
  readonly reject: boolean
  /** On a rejected AppResp: the follower's hint for where to probe next. On SnapResp: bytes held. */
  readonly rejectHint: Index
  /** On a rejected AppResp: the term of the follower's entry at `rejectHint` (fast backtracking). */
  readonly hintTerm: Term
  readonly snapshot: SnapshotChunk | undefined
  /** ReadIndex request context; `CAMPAIGN_TRANSFER` on a Vote caused by leadership transfer. */
  readonly context: Uint8Array | undefined
}

export type MessageInit = Partial<Message> & Pick<Message, "type">

/** Builds a message with every unset field at its zero value. */
export const newMessage = (m: MessageInit): Message => ({
  // Keep the field order identical to Raft.send's literal: one hidden class for all messages.
  type: m.type,
  to: m.to ?? None,
  from: m.from ?? None,
  term: m.term ?? 0,
  logTerm: m.logTerm ?? 0,
  index: m.index ?? 0,
  entries: m.entries ?? NO_ENTRIES,
  commit: m.commit ?? 0,
  reject: m.reject ?? false,
  rejectHint: m.rejectHint ?? 0,
  hintTerm: m.hintTerm ?? 0,
  snapshot: m.snapshot,
  context: m.context,
})

export const NO_ENTRIES: readonly Entry[] = Object.freeze([]) as readonly Entry[]

/** Marks a Vote sent because of a leadership transfer: it may bypass the leader lease. */
export const CAMPAIGN_TRANSFER: Uint8Array = new Uint8Array([0x54]) // "T"

export const StateType = {
  Follower: 0,
  Candidate: 1,
  Leader: 2,
  PreCandidate: 3,
} as const
export type StateType = (typeof StateType)[keyof typeof StateType]
export const stateTypeName = (s: StateType): string =>
  ["StateFollower", "StateCandidate", "StateLeader", "StatePreCandidate"][s]!

/** Volatile state that the application may want to observe (who leads, what role). */
export interface SoftState {
  readonly lead: ReplicaId
  readonly raftState: StateType
}

/**
 * A linearizable read point: once the local node has applied up to `index`, a read that was
 * requested with `requestCtx` may be served.
 */
export interface ReadState {
  readonly index: Index
  readonly requestCtx: Uint8Array
}
