/**
 * The configuration a stored group restarts with: the snapshot's `ConfState`, then every
 * committed conf-change entry after it applied in order, as the core replays them at restart
 * (a change the core would refuse is skipped, as the core skips it). Uses the core's `Changer`,
 * so the rules are the core's own.
 */
import { Changer } from "../../raft/Changer.js"
import { type ConfChange, entersJoint, isLeaveJoint } from "../../raft/ConfChange.js"
import { configToConfState, ProgressTracker, type TrackerConfig } from "../../raft/Tracker.js"
import type { ConfState, Index } from "../../raft/Types.js"

/** A conf change read from the log. */
export interface StoredConfChange {
  readonly index: Index
  readonly change: ConfChange
}

/** The result of a replay: the configuration and the changes the core would refuse. */
export interface Replayed {
  readonly confState: ConfState
  /** Indexes of committed changes refused (the core ignores them too), with why. */
  readonly refused: ReadonlyArray<{ readonly index: Index; readonly reason: string }>
}

const trackerFor = (cs: ConfState): ProgressTracker => {
  const tracker = new ProgressTracker(1, Number.POSITIVE_INFINITY)
  const config: TrackerConfig = {
    incoming: cs.voters,
    outgoing: cs.votersOutgoing,
    learners: cs.learners,
    learnersNext: cs.learnersNext,
    autoLeave: cs.autoLeave,
  }
  const progress = new Map()
  for (const id of [...cs.voters, ...cs.votersOutgoing, ...cs.learners]) {
    if (!progress.has(id)) progress.set(id, tracker.newProgress(1, false))
  }
  tracker.setConfig(config, progress)
  return tracker
}

/** Applies `changes` (committed, in index order) to `start`. */
export const replayConfChanges = (start: ConfState, changes: ReadonlyArray<StoredConfChange>): Replayed => {
  const tracker = trackerFor(start)
  const refused: Array<{ index: Index; reason: string }> = []
  for (const { index, change } of changes) {
    const changer = new Changer(tracker, 0)
    const { joint, autoLeave } = entersJoint(change)
    const result = isLeaveJoint(change)
      ? changer.leaveJoint()
      : joint
        ? changer.enterJoint(autoLeave, change.changes)
        : changer.simple(change.changes)
    if ("_tag" in result) refused.push({ index, reason: result.reason })
    else tracker.setConfig(result.config, result.progress)
  }
  return { confState: configToConfState(tracker.config), refused }
}
