/**
 * What a replica's mailbox holds: requests waiting for the next engine round, each with the
 * `Waiter` that answers its caller.
 */
import type { RuntimeError } from "./RuntimeErrors.js"

/** How a caller is answered (called exactly once). */
export interface Waiter {
  readonly succeed: (reply: Uint8Array) => void
  readonly fail: (error: RuntimeError) => void
}

/** A request in a replica's mailbox. */
export type MailboxItem =
  | { readonly _tag: "Command"; readonly command: Uint8Array; readonly waiter: Waiter }
  | { readonly _tag: "Query"; readonly query: Uint8Array; readonly stale: boolean; readonly waiter: Waiter }
  /** A linearizable read of the whole state (SnapshotRead.ts), answered as a read is. */
  | { readonly _tag: "SnapshotRead"; readonly waiter: Waiter }
