/**
 * Keeping the metadata group's record in step with what nodes report: the commands the driver
 * proposes every round besides operators. All pure.
 *
 * - `membershipUpdates`: a group's leader reports a configuration newer than the recorded one
 *   (an operator step applied, or the group bootstrapped its configuration through its log).
 *   The planner leaves such a group alone until the record catches up.
 * - `leaderHintUpdates`: a group's leader (highest reported term) differs from the hint.
 * - `nodeStateUpdates`: an `up` node silent past the heartbeat timeout is recorded `down`.
 *   (Nodes come back `up` by themselves: a newer heartbeat revives them.)
 */
import { nodeHealth } from "../meta/Allocation.js"
import type { ClusterState } from "../meta/ClusterState.js"
import type { MetaCommand } from "../meta/MetaCommand.js"
import type { GroupId } from "../raft/Ids.js"
import type { GroupStatus } from "./LoadReport.js"

/** `RecordMembership` for every group whose leader reports a newer configuration than recorded. */
export const membershipUpdates = (
  state: ClusterState,
  statuses: ReadonlyMap<GroupId, GroupStatus>,
): MetaCommand[] => {
  const out: MetaCommand[] = []
  for (const g of state.groups) {
    const m = statuses.get(g.id)?.membership
    if (m === undefined || m.confVersion <= g.confVersion) continue
    out.push({
      _tag: "RecordMembership",
      group: g.id,
      confVersion: m.confVersion,
      voters: m.voters,
      learners: m.learners,
      votersOutgoing: m.votersOutgoing,
      learnersNext: m.learnersNext,
    })
  }
  return out
}

/** `SetLeaderHint` for every group whose reported leader is a recorded voter other than the hint. */
export const leaderHintUpdates = (
  state: ClusterState,
  statuses: ReadonlyMap<GroupId, GroupStatus>,
): MetaCommand[] => {
  const out: MetaCommand[] = []
  for (const g of state.groups) {
    const s = statuses.get(g.id)
    if (s === undefined || s.leader === 0 || s.term < g.leaderTerm) continue
    if (s.leader === g.leaderHint && s.term === g.leaderTerm) continue
    if (!g.replicas.some((r) => r.id === s.leader && r.role === "voter")) continue
    out.push({ _tag: "SetLeaderHint", group: g.id, leader: s.leader, term: s.term })
  }
  return out
}

/** `SetNodeState(down)` for every `up` node silent past the heartbeat timeout at `now`. */
export const nodeStateUpdates = (state: ClusterState, now: number): MetaCommand[] =>
  state.nodes
    .filter((n) => n.state === "up" && nodeHealth(n, state.settings, now) !== "up")
    .map((n): MetaCommand => ({ _tag: "SetNodeState", node: n.id, state: "down", at: now }))
