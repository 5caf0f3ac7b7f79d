/**
 * Flotilla's pure Raft core. Start at `RawNode` (the Ready/advance contract) and `Types`.
 */
export * from "./ConfChange.js"
export * from "./Describe.js"
export * from "./Errors.js"
export * from "./Ids.js"
export { ProgressState, progressStateName } from "./Progress.js"
export * from "./Quorum.js"
export { type Rand, seededRand } from "./Rand.js"
export * from "./RawNode.js"
export * from "./Storage.js"
export { configToConfState, describeConfig, isJoint, type TrackerConfig } from "./Tracker.js"
export * from "./Types.js"
