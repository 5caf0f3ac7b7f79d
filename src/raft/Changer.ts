/**
 * Applies configuration changes to a tracker's configuration without mutating it: the result
 * is a new configuration and progress map, or a typed error when the change is not allowed.
 *
 * Rules (joint consensus, Raft thesis §4.3, as etcd applies them):
 * - A simple change alters at most one voter and is refused in a joint configuration.
 * - Entering a joint configuration copies the incoming voters to the outgoing half and applies
 *   the changes to the incoming half; it is refused when already joint.
 * - Leaving drops the outgoing half; outgoing voters that were demoted become learners then.
 * - A node is never a voter and a learner at once; a configuration never loses every voter.
 *
 * Existing `Progress` objects are shared with the tracker and never edited here, so a refused
 * change (or a dry run to validate a proposal) leaves the tracker untouched; `isLearner` is
 * set when a result is adopted (`ProgressTracker.setConfig`).
 */

import { type ConfChangeSingle, ConfChangeType } from "./ConfChange.js"
import { type InvalidConfChange, invalidConfChange } from "./Errors.js"
import type { Progress } from "./Progress.js"
import type { ProgressTracker, TrackerConfig } from "./Tracker.js"
import type { Index, ReplicaId } from "./Types.js"

export interface ChangeResult {
  readonly config: TrackerConfig
  readonly progress: Map<ReplicaId, Progress>
}

interface Mutable {
  incoming: Set<ReplicaId>
  outgoing: Set<ReplicaId>
  learners: Set<ReplicaId>
  learnersNext: Set<ReplicaId>
  autoLeave: boolean
  progress: Map<ReplicaId, Progress>
}

export class Changer {
  constructor(
    private readonly tracker: ProgressTracker,
    /** The leader's last log index: new members start probing there. */
    private readonly lastIndex: Index,
  ) {}

  private copy(): Mutable {
    const c = this.tracker.config
    return {
      incoming: new Set(c.incoming),
      outgoing: new Set(c.outgoing),
      learners: new Set(c.learners),
      learnersNext: new Set(c.learnersNext),
      autoLeave: c.autoLeave,
      // Progress objects are shared: the change adds and removes entries, it does not edit them.
      progress: new Map(this.tracker.progress),
    }
  }

  enterJoint(autoLeave: boolean, changes: readonly ConfChangeSingle[]): ChangeResult | InvalidConfChange {
    const m = this.copy()
    if (m.outgoing.size > 0) return invalidConfChange("configuration is already joint")
    if (m.incoming.size === 0) return invalidConfChange("can't make a zero-voter configuration joint")
    for (const id of m.incoming) m.outgoing.add(id)
    const err = this.apply(m, changes)
    if (err) return err
    m.autoLeave = autoLeave
    return this.finish(m)
  }

  leaveJoint(): ChangeResult | InvalidConfChange {
    const m = this.copy()
    if (m.outgoing.size === 0) return invalidConfChange("can't leave a non-joint configuration")
    for (const id of m.learnersNext) m.learners.add(id)
    m.learnersNext.clear()
    for (const id of m.outgoing) {
      if (!m.incoming.has(id) && !m.learners.has(id)) m.progress.delete(id)
    }
    m.outgoing.clear()
    m.autoLeave = false
    return this.finish(m)
  }

  simple(changes: readonly ConfChangeSingle[]): ChangeResult | InvalidConfChange {
    const m = this.copy()
    if (m.outgoing.size > 0) return invalidConfChange("can't apply a simple change in a joint configuration")
    const before = new Set(m.incoming)
    const err = this.apply(m, changes)
    if (err) return err
    let changed = 0
    for (const id of before) if (!m.incoming.has(id)) changed++
    for (const id of m.incoming) if (!before.has(id)) changed++
    if (changed > 1)
      return invalidConfChange("more than one voter changed without entering a joint configuration")
    return this.finish(m)
  }

  private apply(m: Mutable, changes: readonly ConfChangeSingle[]): InvalidConfChange | undefined {
    for (const c of changes) {
      switch (c.type) {
        case ConfChangeType.AddNode:
          this.makeVoter(m, c.nodeId)
          break
        case ConfChangeType.AddLearner:
          this.makeLearner(m, c.nodeId)
          break
        case ConfChangeType.RemoveNode:
          this.remove(m, c.nodeId)
          break
        default:
          return invalidConfChange(`unknown change type ${String((c as { type: unknown }).type)}`)
      }
    }
    if (m.incoming.size === 0) return invalidConfChange("removed all voters")
    return undefined
  }

  private ensureProgress(m: Mutable, id: ReplicaId, isLearner: boolean): Progress {
    let pr = m.progress.get(id)
    if (pr === undefined) {
      // Start probing at the last index; mark active so check-quorum does not step down at once.
      pr = this.tracker.newProgress(Math.max(this.lastIndex, 1), isLearner)
      pr.recentActive = true
      m.progress.set(id, pr)
    }
    return pr
  }

  private makeVoter(m: Mutable, id: ReplicaId): void {
    this.ensureProgress(m, id, false)
    m.learners.delete(id)
    m.learnersNext.delete(id)
    m.incoming.add(id)
  }

  private makeLearner(m: Mutable, id: ReplicaId): void {
    this.ensureProgress(m, id, true)
    if (m.learners.has(id)) return
    m.incoming.delete(id)
    // An outgoing voter cannot be a learner yet: it becomes one when the joint config is left.
    if (m.outgoing.has(id)) m.learnersNext.add(id)
    else m.learners.add(id)
  }

  private remove(m: Mutable, id: ReplicaId): void {
    if (!m.progress.has(id)) return
    m.incoming.delete(id)
    m.learners.delete(id)
    m.learnersNext.delete(id)
    // An outgoing voter keeps its progress until the joint configuration is left.
    if (!m.outgoing.has(id)) m.progress.delete(id)
  }

  private finish(m: Mutable): ChangeResult | InvalidConfChange {
    for (const id of m.learners) {
      if (m.incoming.has(id) || m.outgoing.has(id))
        return invalidConfChange(`${id} is both a voter and a learner`)
    }
    for (const id of m.learnersNext) {
      if (!m.outgoing.has(id)) return invalidConfChange(`${id} is in learners_next but not an outgoing voter`)
    }
    for (const id of [...m.incoming, ...m.outgoing, ...m.learners]) {
      if (!m.progress.has(id)) return invalidConfChange(`no progress for ${id}`)
    }
    if (m.outgoing.size === 0 && m.autoLeave)
      return invalidConfChange("autoLeave set outside a joint configuration")
    return {
      config: {
        incoming: [...m.incoming],
        outgoing: [...m.outgoing],
        learners: [...m.learners],
        learnersNext: [...m.learnersNext],
        autoLeave: m.autoLeave,
      },
      progress: m.progress,
    }
  }
}
