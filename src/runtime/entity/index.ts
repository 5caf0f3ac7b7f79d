/**
 * The entity framework: entity kinds, the shard state machine that hosts them, the wire
 * format, and the typed client. Each module is re-exported as a namespace; docs/entities.md
 * is the guide.
 */
export * as Cbor from "./Cbor.js"
export * as EntityClient from "./EntityClient.js"
export * as EntityError from "./EntityError.js"
export * as EntityId from "./EntityId.js"
export * as EntityKind from "./EntityKind.js"
export * as EntityShardKind from "./EntityShardKind.js"
export * as MemorySender from "./MemorySender.js"
export * as OrderedMap from "./OrderedMap.js"
export * as Sessions from "./Sessions.js"
export * as ShardScan from "./ShardScan.js"
export * as ShardSnapshot from "./ShardSnapshot.js"
export * as ShardStateMachine from "./ShardStateMachine.js"
export * as Wire from "./Wire.js"
