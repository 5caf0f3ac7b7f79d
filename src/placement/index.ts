/**
 * Placement, pure: the planner, the operator step function and the reports they read. The
 * driver that runs them on the metadata leader is `src/node/PlacementDriver.ts`. Each module is re-exported as a namespace,
 * Effect style.
 */
export * as ClusterView from "./ClusterView.js"
export * as LoadReport from "./LoadReport.js"
export * as OperatorStep from "./OperatorStep.js"
export * as Planner from "./Planner.js"
export * as Reconcile from "./Reconcile.js"
