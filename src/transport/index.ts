/**
 * Flotilla's transport layer: the Raft `Transport` (NATS and in-memory with fault injection),
 * the request/reply `Bus` (NATS and in-process), the node's `NatsConnection`, the frame codec
 * and the cluster's subjects. See docs/transport.md.
 */
export * as Bus from "./Bus.js"
export * as ClusterSecret from "./ClusterSecret.js"
export * as Frame from "./Frame.js"
export * as MemoryBus from "./MemoryBus.js"
export * as MemoryNetwork from "./MemoryNetwork.js"
export * as NatsConnection from "./NatsConnection.js"
export * as Subjects from "./Subjects.js"
export * as Transport from "./Transport.js"
