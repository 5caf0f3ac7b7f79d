/**
 * The contract between the node runtime and the replicated state it hosts. A group runs one
 * `StateMachine`; every replica of the group applies the same committed commands in the same
 * order and MUST reach the same state and return the same responses.
 *
 * CONTRACT (binding on every implementation):
 * - `apply` is deterministic: it depends only on the current state, the command bytes and the
 *   index. No clock, no randomness, no I/O. A malformed command gets an error *response*
 *   (every replica gives the same one); `apply` MUST NOT throw. A throw is a bug: the runtime
 *   stops the group with that cause rather than let replicas diverge.
 * - `query` reads the current state and MUST NOT change it.
 * - `snapshot` serializes the whole state; `restore(snapshot())` on a fresh instance yields
 *   an equal state. `restore` may throw on corrupt bytes (the runtime reports it).
 */
export interface StateMachine {
  /** Applies the command committed at `index`; the result goes back to the proposer. */
  apply(command: Uint8Array, index: number): Uint8Array
  /** Answers a read request against the current state. */
  query(request: Uint8Array): Uint8Array
  /** The whole state, as bytes. */
  snapshot(): Uint8Array
  /** Replaces the whole state with a snapshot's. */
  restore(snapshot: Uint8Array): void
}

/** Makes the state machine of a new replica (empty state). */
export type StateMachineFactory = () => StateMachine
