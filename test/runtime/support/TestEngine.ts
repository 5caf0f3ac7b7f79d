/** An engine of node 1 with small test settings, for tests that drive its rounds by hand. */
import { NodeId } from "../../../src/raft/Ids.js"
import { Engine } from "../../../src/runtime/Engine.js"

export const testEngine = (): Engine =>
  new Engine({
    nodeId: NodeId(1),
    electionTicks: 10,
    heartbeatTicks: 1,
    quiesceAfterTicks: 0,
    mailboxCapacity: 100,
    snapshotEntries: 10_000,
    keepEntries: 100,
    snapshotCacheMs: 1000,
  })
