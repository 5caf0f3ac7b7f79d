/**
 * A kind of shard: how to make its state machine and how to serve the requests that clients
 * send to a group's subject (`flotilla.<c>.group.<gid>`). The runtime is generic; each kind
 * (the KV store, an application's entity kind, the metadata group) brings its own wire format.
 */
import type { Effect, Option, Scope } from "effect"
import type { GroupId } from "../raft/Ids.js"
import type { BadRequest, RuntimeError } from "./RuntimeErrors.js"
import type { StateMachine, StateMachineFactory } from "./StateMachine.js"

/** What a kind's leader task can use (see `ShardKind.whileLeader`). */
export interface LeaderContext {
  readonly groupId: GroupId
  /** The node's clock, the one that stamps the commands it proposes. */
  readonly nowMs: () => number
  /** This replica's state machine (read it; never change it). */
  readonly stateMachine: () => Option.Option<StateMachine>
  /** Serves a raw request as the group subject does (routed by the kind, proposed when a write). */
  readonly request: (request: Uint8Array) => Effect.Effect<Uint8Array>
}

/** What a request asks the group to do. */
export type RoutedRequest =
  /** Replicate `command` through the log; the reply is `apply`'s result. */
  | {
      readonly _tag: "Command"
      readonly command: Uint8Array
      readonly slot?: number
      /** The command opens a session: the node rate-limits these per client (SessionOpens.ts). */
      readonly opensSession?: boolean
    }
  /** Answer `query` from the state machine: after ReadIndex unless `stale`. */
  | { readonly _tag: "Query"; readonly query: Uint8Array; readonly stale: boolean; readonly slot?: number }
  /** Answer at once with `reply` (a malformed request): nothing enters the log. */
  | { readonly _tag: "Reply"; readonly reply: Uint8Array }

/**
 * A kind of shard. When `route` reports the hash slot a request addresses (`slot`), the node
 * checks it against the group's slots (`NodeConfig.ownsSlot`) and answers `WrongShard` for a
 * slot the group does not own, before anything enters the log.
 */
export interface ShardKind {
  /** A short name for logs and status (e.g. "kv"). */
  readonly name: string
  readonly make: StateMachineFactory
  /**
   * Classifies a request arriving on the group subject. MUST NOT throw; bad bytes get a
   * `Reply` carrying an error in the kind's format.
   */
  readonly route: (request: Uint8Array, nowMs: number) => RoutedRequest
  /** Encodes a runtime error (not leader, overloaded, ...) as a reply in the kind's format. */
  readonly encodeError: (error: RuntimeError | BadRequest) => Uint8Array
  /**
   * Optional work done only by a group's leader (e.g. expiring leases), run on a node while its
   * replica of the group leads and interrupted when leadership is lost (`LeaderTasks`). What it
   * decides must still go through the log (`request`): a deposed leader's task may run a little
   * after losing leadership.
   */
  readonly whileLeader?: (ctx: LeaderContext) => Effect.Effect<void, never, Scope.Scope>
}
