/**
 * The node loop's wake-up signal, raised from synchronous callbacks (bus handlers, the
 * transport's inbound hook, finished writes, the beat) and awaited by the loop when it has
 * nothing to do. A plain callback rather than a queue and a race: the loop waits on it every
 * iteration, and this costs one closure per wait. A raise with nobody waiting is remembered
 * (once) and ends the next wait at once.
 */
import { Effect } from "effect"

export class WakeSignal {
  private pending = false
  private waiter: ((done: Effect.Effect<void>) => void) | undefined

  /** Wakes the loop now, or at its next wait. Safe to pass as a callback. */
  readonly raise = (): void => {
    const w = this.waiter
    if (w === undefined) this.pending = true
    else {
      this.waiter = undefined
      w(Effect.void)
    }
  }

  /** Waits for a raise; returns at once when one is pending. */
  readonly wait: Effect.Effect<void> = Effect.async<void>((resume) => {
    if (this.pending) {
      this.pending = false
      resume(Effect.void)
      return
    }
    this.waiter = resume
    return Effect.sync(() => {
      if (this.waiter === resume) this.waiter = undefined
    })
  })
}
