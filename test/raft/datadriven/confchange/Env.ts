/**
 * The state the configuration-change commands (one file per command, in this folder) share:
 * a `ProgressTracker` that starts with no members, and the leader's last index, which grows by
 * one at every command, so a member's `next=` tells which command created its progress (a
 * change that keeps a member keeps its progress).
 *
 * A command computes a change with `Changer` and adopts it; it prints the configuration and
 * every member's progress, or `refused: <why>` when the change is not allowed, and then the
 * tracker must be as it was (an error otherwise).
 */
import type { ChangeResult } from "../../../../src/raft/Changer.js"
import { Changer } from "../../../../src/raft/Changer.js"
import type { InvalidConfChange } from "../../../../src/raft/Errors.js"
import { describeConfig, ProgressTracker } from "../../../../src/raft/Tracker.js"
import type { Command } from "../../support/datadriven.js"

/** See the module comment. */
export class ConfChangeEnv {
  readonly tracker = new ProgressTracker(8, 0)
  lastIndex = 0

  /** The configuration and each member's progress. */
  describe(): string {
    const lines = [describeConfig(this.tracker.config)]
    for (const [id, pr] of [...this.tracker.progress].sort((a, b) => a[0] - b[0]))
      lines.push(`${id}: ${pr.describe()}`)
    return lines.join("\n")
  }

  /** Computes a change with a `Changer` at the next last index, and adopts it unless refused. */
  apply(change: (changer: Changer) => ChangeResult | InvalidConfChange): string {
    this.lastIndex++
    const before = this.describe()
    const result = change(new Changer(this.tracker, this.lastIndex))
    if ("_tag" in result) {
      if (this.describe() !== before)
        throw new Error(`the refused change altered the tracker: ${this.describe()}`)
      return `refused: ${result.reason}`
    }
    this.tracker.setConfig(result.config, result.progress)
    return this.describe()
  }
}

/** A command's handler. */
export type Handler = (env: ConfChangeEnv, cmd: Command) => string
