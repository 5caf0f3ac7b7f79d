/**
 * Answers to bus requests, gathered while requests are served (in bus callbacks and engine
 * rounds) and sent together once per loop iteration: one socket write for many replies.
 */
import type { BusMessage } from "../transport/Bus.js"

export class BusReplies {
  private readonly pending: Array<{ readonly msg: BusMessage; readonly data: Uint8Array }> = []
  /** Replies that could not be sent (connection down, payload too large). */
  unsent = 0

  /** Queues `data` as the answer to `msg`. */
  push(msg: BusMessage, data: Uint8Array): void {
    this.pending.push({ msg, data })
  }

  /** Whether replies wait to be sent. */
  hasPending(): boolean {
    return this.pending.length > 0
  }

  /** Sends every queued reply. */
  flush(): void {
    for (const r of this.pending) if (!r.msg.unsafeRespond(r.data) && r.msg.reply !== undefined) this.unsent++
    this.pending.length = 0
  }
}
