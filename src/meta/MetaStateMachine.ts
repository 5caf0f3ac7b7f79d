/**
 * The metadata group's state machine (group 0): decodes a command, applies it with the pure
 * handlers of ApplyNodes, ApplyShards, ApplyDeleteKeyspace and ApplyOperators, encodes the response. It implements
 * the runtime's `StateMachine` contract: `apply` is deterministic and never throws (a command
 * that does not decode, or that the state refuses, gets a typed `MetaError` response), `query`
 * never changes the state, and `restore(snapshot())` reproduces the state exactly.
 *
 * The planner reads the state through `state()`: an immutable value, safe to keep while later
 * commands apply.
 */
import { Either } from "effect"
import type { StateMachine } from "../runtime/StateMachine.js"
import { applyDeleteKeyspace } from "./ApplyDeleteKeyspace.js"
import {
  applyBootstrap,
  applyHeartbeat,
  applyRegister,
  applySetNodeState,
  applyUpdateSettings,
} from "./ApplyNodes.js"
import {
  applyFinishOperator,
  applyRollbackOperator,
  applyStartOperator,
  applyStepOperator,
  applyTimeoutOperator,
} from "./ApplyOperators.js"
import {
  applyAddLearner,
  applyCreateKeyspace,
  applyDropReplica,
  applyPromoteLearner,
  applyRecordMembership,
  applySetLeaderHint,
  applySetReplicationFactor,
} from "./ApplyShards.js"
import { ClusterState, emptyClusterState } from "./ClusterState.js"
import { type CommandOutcome, refuse } from "./CommandOutcome.js"
import { decodeJsonOrThrow, encodeJson } from "./JsonCodec.js"
import { decodeCommand, encodeResponse, type MetaCommand, type MetaResponse } from "./MetaCommand.js"
import { NotBootstrapped, type UnknownKeyspace } from "./MetaErrors.js"
import {
  answerQuery,
  decodeQuery,
  encodeQueryResponse,
  type MetaQuery,
  type MetaQueryResponse,
  type ShardMap,
  shardMapPages,
} from "./MetaQuery.js"

/**
 * Applies one command to a state: the pure heart of the metadata group. Same state and same
 * command give the same result, always.
 */
export const applyCommand = (state: ClusterState, command: MetaCommand): CommandOutcome => {
  if (!state.bootstrapped && command._tag !== "Bootstrap") return refuse(state, new NotBootstrapped())
  switch (command._tag) {
    case "Bootstrap":
      return applyBootstrap(state, command)
    case "RegisterNode":
      return applyRegister(state, command)
    case "Heartbeat":
      return applyHeartbeat(state, command)
    case "SetNodeState":
      return applySetNodeState(state, command)
    case "UpdateSettings":
      return applyUpdateSettings(state, command)
    case "CreateKeyspace":
      return applyCreateKeyspace(state, command)
    case "DeleteKeyspace":
      return applyDeleteKeyspace(state, command)
    case "SetReplicationFactor":
      return applySetReplicationFactor(state, command)
    case "AddLearner":
      return applyAddLearner(state, command)
    case "PromoteLearner":
      return applyPromoteLearner(state, command)
    case "DropReplica":
      return applyDropReplica(state, command)
    case "RecordMembership":
      return applyRecordMembership(state, command)
    case "SetLeaderHint":
      return applySetLeaderHint(state, command)
    case "StartOperator":
      return applyStartOperator(state, command)
    case "StepOperator":
      return applyStepOperator(state, command)
    case "FinishOperator":
      return applyFinishOperator(state, command)
    case "RollbackOperator":
      return applyRollbackOperator(state, command)
    case "TimeoutOperator":
      return applyTimeoutOperator(state, command)
  }
}

/** The whole state as snapshot bytes (JSON through the `ClusterState` Schema). */
export const encodeState: (state: ClusterState) => Uint8Array = encodeJson(ClusterState)

/** Snapshot bytes back as a state; throws on bytes that are not a valid snapshot. */
export const decodeState: (bytes: Uint8Array) => ClusterState = decodeJsonOrThrow(ClusterState)

/** The metadata group's `StateMachine`. */
export class MetaStateMachine implements StateMachine {
  #state: ClusterState
  #mapCache:
    | {
        readonly keyspace: string
        readonly version: number
        readonly groups: ClusterState["groups"]
        readonly keyspaces: ClusterState["keyspaces"]
        readonly pages: ReadonlyArray<ShardMap> | UnknownKeyspace
        /** Each page's answer bytes, encoded on first demand. */
        readonly bytes: Array<Uint8Array | undefined>
      }
    | undefined

  /** A state machine holding `state` (by default: not bootstrapped). */
  constructor(state: ClusterState = emptyClusterState) {
    this.#state = state
  }

  /** The current state: an immutable value. */
  state(): ClusterState {
    return this.#state
  }

  /** Applies a command object directly (tests, in-process callers); same result as `apply`. */
  applyCommand(command: MetaCommand): MetaResponse {
    const { state, response } = applyCommand(this.#state, command)
    this.#state = state
    return response
  }

  /** See `StateMachine.apply`. Never throws. */
  apply(command: Uint8Array, _index: number): Uint8Array {
    const decoded = decodeCommand(command)
    if (Either.isLeft(decoded)) return encodeResponse(decoded.left)
    return encodeResponse(this.applyCommand(decoded.right))
  }

  /** Answers a query object directly. */
  ask(query: MetaQuery): MetaQueryResponse {
    return answerQuery(this.#state, query)
  }

  /** See `StateMachine.query`. */
  query(request: Uint8Array): Uint8Array {
    const decoded = decodeQuery(request)
    if (Either.isLeft(decoded)) return encodeQueryResponse(decoded.left)
    const q = decoded.right
    if (q._tag !== "GetShardMap") return encodeQueryResponse(this.ask(q))
    const s = this.#state
    const page = q.page ?? 0
    if (page === 0 && q.knownVersion !== 0 && q.knownVersion === s.shardMapVersion)
      return encodeQueryResponse(this.ask(q))
    // Every node refetches the map after each change: paginate and encode each map once. A
    // map is a function of the version, the keyspaces and the groups (immutable arrays: identity).
    let c = this.#mapCache
    if (
      c === undefined ||
      c.keyspace !== q.keyspace ||
      c.version !== s.shardMapVersion ||
      c.groups !== s.groups ||
      c.keyspaces !== s.keyspaces
    ) {
      c = {
        keyspace: q.keyspace,
        version: s.shardMapVersion,
        groups: s.groups,
        keyspaces: s.keyspaces,
        pages: shardMapPages(s, q.keyspace),
        bytes: [],
      }
      this.#mapCache = c
    }
    if (!Array.isArray(c.pages)) return encodeQueryResponse(c.pages as UnknownKeyspace)
    if (page >= c.pages.length) return encodeQueryResponse(this.ask(q))
    c.bytes[page] ??= encodeQueryResponse(c.pages[page]!)
    return c.bytes[page]
  }

  /** See `StateMachine.snapshot`. */
  snapshot(): Uint8Array {
    return encodeState(this.#state)
  }

  /** See `StateMachine.restore`. Throws on a corrupt snapshot and keeps the old state then. */
  restore(snapshot: Uint8Array): void {
    this.#state = decodeState(snapshot)
  }
}
