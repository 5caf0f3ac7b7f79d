/**
 * The package's main entry point, `import … from "flotilla"` (package.json `exports`): what an
 * application needs to define entity kinds and run nodes that host them. The other entry
 * points: `flotilla/client` (routing, typed clients), `flotilla/kv` (the KV store's kind),
 * `flotilla/testing` (simulators, process harnesses, the linearizability checker) and
 * `flotilla/raft` (the bare Raft core). docs/decisions/0076 says why these and no more.
 */
export * from "../runtime/entity/index.js"
export { Node, type NodeService, NodeSettings } from "../runtime/Node.js"
export type { ShardKind } from "../runtime/ShardKind.js"
export * as LogStore from "../storage/LogStore.js"
export * as Bus from "../transport/Bus.js"
export * as MemoryBus from "../transport/MemoryBus.js"
export * as MemoryNetwork from "../transport/MemoryNetwork.js"
export * as NatsConnection from "../transport/NatsConnection.js"
export * as StartNode from "./StartNode.js"
