/**
 * The metadata group (group 0), pure: its state, commands, queries and state machine, and the
 * meta protocol. The services that run it on a node (agent, endpoint, bootstrap, identity) are
 * in `src/node`. Each module is re-exported as a namespace, Effect style: `import { MetaCommand } from "../meta/index.js"`.
 */
export * as Allocation from "./Allocation.js"
export * as ClusterState from "./ClusterState.js"
export * as IdSchemas from "./IdSchemas.js"
export * as LeaderChains from "./LeaderChains.js"
export * as LocalReplicas from "./LocalReplicas.js"
export * as MetaCommand from "./MetaCommand.js"
export * as MetaErrors from "./MetaErrors.js"
export * as MetaProtocol from "./MetaProtocol.js"
export * as MetaQuery from "./MetaQuery.js"
export * as MetaShardKind from "./MetaShardKind.js"
export * as MetaStateMachine from "./MetaStateMachine.js"
export * as NodeReport from "./NodeReport.js"
export * as Operator from "./Operator.js"
export * as Slots from "./Slots.js"
