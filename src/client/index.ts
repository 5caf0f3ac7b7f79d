/**
 * Flotilla's clients: the routing core, the typed KV client (Effect), the Promise client, the
 * entity sender for typed entity clients, and the KV gateway that nodes run for plain NATS
 * clients. Each module is re-exported as a namespace; docs/protocol.md documents the wire.
 */
export * as ClientErrors from "./ClientErrors.js"
export * as ClientSession from "./ClientSession.js"
export * as Entities from "./Entities.js"
export * as KvClient from "./KvClient.js"
export * as MetaCall from "./MetaCall.js"
export * as MetaClient from "./MetaClient.js"
export * as PromiseClient from "./PromiseClient.js"
export * as Retry from "./Retry.js"
export * as Router from "./Router.js"
export * as ScanMerge from "./ScanMerge.js"
