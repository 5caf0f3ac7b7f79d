/**
 * `flotilla/testing` (package.json `exports`): for applications' and Flotilla's own test suites.
 * The deterministic simulators (`Simulator` for bare Raft cores, `RuntimeSim` for nodes, the
 * placement simulation), the linearizability checker and its KV model, and the real-process
 * harnesses (`NodeProcess`, `ProcessCluster`, `StaticNode`). docs/testing.md is the guide.
 */
export * as AppSim from "./AppSim.js"
export * as ChecksumMachine from "./ChecksumMachine.js"
export * as History from "./History.js"
export * as KvModel from "./KvModel.js"
export * as Linearizability from "./Linearizability.js"
export * as NodeProcess from "./NodeProcess.js"
export * as PlacementSim from "./PlacementSim.js"
export * as ProcessCluster from "./ProcessCluster.js"
export * as RuntimeSim from "./RuntimeSim.js"
export * as Simulator from "./Simulator.js"
export * as StaticNode from "./StaticNode.js"
