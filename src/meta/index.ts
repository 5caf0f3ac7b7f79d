/**
 * The metadata group (group 0): its state, commands, queries and state machine, the meta
 * protocol and endpoint, node identity and bootstrap, and the per-node metadata agent. Each
 * module is re-exported as a namespace, Effect style: `import { MetaCommand } from "../meta/index.js"`.
 */
export * as Allocation from "./Allocation.js"
export * as ClusterState from "./ClusterState.js"
export * as IdSchemas from "./IdSchemas.js"
export * as LeaderChains from "./LeaderChains.js"
export * as LocalReplicas from "./LocalReplicas.js"
export * as MetaAgent from "./MetaAgent.js"
export * as MetaBootstrap from "./MetaBootstrap.js"
export * as MetaCall from "./MetaCall.js"
export * as MetaCommand from "./MetaCommand.js"
export * as MetaEndpoint from "./MetaEndpoint.js"
export * as MetaErrors from "./MetaErrors.js"
export * as MetaProtocol from "./MetaProtocol.js"
export * as MetaQuery from "./MetaQuery.js"
export * as MetaShardKind from "./MetaShardKind.js"
export * as MetaStateMachine from "./MetaStateMachine.js"
export * as NodeIdentity from "./NodeIdentity.js"
export * as NodeReport from "./NodeReport.js"
export * as Operator from "./Operator.js"
export * as ShardMapCache from "./ShardMapCache.js"
export * as Slots from "./Slots.js"
export * as WhileLeader from "./WhileLeader.js"
