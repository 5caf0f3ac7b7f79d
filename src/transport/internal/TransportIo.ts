/** What a transport implementation (NATS, memory) provides to the transport core. */
import type { NodeId } from "../../raft/Ids.js"

/** The outcome of handing one payload to the bus. */
export type PublishOutcome = "sent" | "disconnected" | "closed"

/** What an implementation provides to the core. */
export interface TransportIo {
  /** Publishes one payload; never throws. */
  readonly publish: (
    subject: string,
    kind: "raft" | "snap",
    to: NodeId,
    payload: Uint8Array,
  ) => PublishOutcome
  /** The bus's payload limit now (NATS: the server's `max_payload`). */
  readonly maxPayload: () => number
}
