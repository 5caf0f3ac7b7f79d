/**
 * Typed results of the Raft core. Bad input (a proposal on a follower, a message from an
 * unknown node, a malformed configuration change) is answered with one of these values;
 * it never throws and never touches the log. A thrown exception from the core is a bug.
 */
import type { Index, ReplicaId } from "./Types.js"

/** A proposal (or read, or transfer) was not accepted; the caller may retry elsewhere. */
export interface ProposalDropped {
  readonly _tag: "ProposalDropped"
  readonly reason:
    | "NotLeader"
    | "NoLeader"
    | "LeadershipTransferInProgress"
    | "ConfChangeInProgress"
    | "UncommittedSizeLimit"
    | "NotAMember"
  /** The node this one believes leads the group (0 when unknown). */
  readonly leaderHint: ReplicaId
}

/** A message was refused before it could reach the state machine. */
export interface InvalidMessage {
  readonly _tag: "InvalidMessage"
  readonly reason: string
}

/** A configuration change that can never be applied to the current configuration. */
export interface InvalidConfChange {
  readonly _tag: "InvalidConfChange"
  readonly reason: string
}

/** Storage has discarded the requested index (it is below the first index). */
export interface Compacted {
  readonly _tag: "Compacted"
}

/** Storage does not hold the requested index yet (it is beyond the last index). */
export interface Unavailable {
  readonly _tag: "Unavailable"
}

/** The snapshot is being prepared; the core retries later. */
export interface SnapshotTemporarilyUnavailable {
  readonly _tag: "SnapshotTemporarilyUnavailable"
}

export type RaftError = ProposalDropped | InvalidMessage | InvalidConfChange

export const proposalDropped = (
  reason: ProposalDropped["reason"],
  leaderHint: ReplicaId,
): ProposalDropped => ({
  _tag: "ProposalDropped",
  reason,
  leaderHint,
})

export const invalidMessage = (reason: string): InvalidMessage => ({ _tag: "InvalidMessage", reason })

export const invalidConfChange = (reason: string): InvalidConfChange => ({
  _tag: "InvalidConfChange",
  reason,
})

export const COMPACTED: Compacted = Object.freeze({ _tag: "Compacted" })
export const UNAVAILABLE: Unavailable = Object.freeze({ _tag: "Unavailable" })
export const SNAPSHOT_TEMPORARILY_UNAVAILABLE: SnapshotTemporarilyUnavailable = Object.freeze({
  _tag: "SnapshotTemporarilyUnavailable",
})

/** The index and term a leader gave a proposal; match them against applied entries. */
export interface Proposed {
  readonly _tag: "Proposed"
  /** Index of the first entry of the proposal (a batch occupies consecutive indexes). */
  readonly index: Index
  readonly term: number
}
