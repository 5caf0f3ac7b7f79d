/**
 * A node: the composition root (`StartNode`) and every service that runs on a node besides the
 * engine itself: the metadata agent, endpoint and bootstrap, node identity, the node's copy of the shard map,
 * the placement driver, the admin endpoint and the KV gateway. Each module is re-exported as a
 * namespace, Effect style.
 */
export * as GatewayProtocol from "./GatewayProtocol.js"
export * as KvGateway from "./KvGateway.js"
export * as MetaAgent from "./MetaAgent.js"
export * as MetaBootstrap from "./MetaBootstrap.js"
export * as MetaEndpoint from "./MetaEndpoint.js"
export * as NodeAdmin from "./NodeAdmin.js"
export * as NodeIdentity from "./NodeIdentity.js"
export * as NodeShardMap from "./NodeShardMap.js"
export * as PlacementDriver from "./PlacementDriver.js"
export * as StartNode from "./StartNode.js"
export * as WhileLeader from "./WhileLeader.js"
