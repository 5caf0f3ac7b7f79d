/**
 * Virtual time for `RuntimeSim`: a `Clock` whose sleeps wait in a timer queue, a `Scheduler`
 * that holds every fiber task until the driver runs it, and the driver that moves time on.
 *
 * Fibers run with both (`VirtualTime.fork`), so nothing they do depends on the wall clock or
 * on the host's timers. The driver alternates two steps:
 *
 * - settle: run every held task, let the microtask queue drain (promise-based stores resolve
 *   there) by waiting for one `setImmediate`, and repeat until no task is left: every fiber
 *   is then blocked on a timer or on another fiber;
 * - fire: move the clock to the earliest timer and resume every sleeper due at that instant,
 *   in the order the sleeps began.
 *
 * JavaScript runs the same code in the same order, so the same program replays the same run,
 * task for task. Why not `TestClock.adjust`? It decides that fibers are idle by waiting two
 * `setTimeout(0)` turns per sleeper woken (about 2–4 ms of wall time each), and it keeps
 * interrupted sleeps until their time comes; a 3-node cluster with 100 groups took ~1 s of
 * wall time per simulated second that way, against ~0.1 s here, where settling costs one
 * `setImmediate` and knows exactly when every fiber is blocked.
 */
import {
  Clock,
  Duration,
  Effect,
  type Fiber,
  Random,
  type Runtime,
  Runtime as RuntimeModule,
  Scheduler,
} from "effect"
import { EventQueue } from "./EventQueue.js"

interface Timer {
  readonly fire: () => void
  live: boolean
}

/** A `Clock` on virtual milliseconds; `sleep` waits until the driver reaches its instant. */
export class VirtualClock implements Clock.Clock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId
  private nowMillis: number
  /** Sleeps by instant, then by the order they began; interrupted ones stay until popped. */
  private readonly timers = new EventQueue<Timer>()
  private live = 0

  constructor(startMillis = 0) {
    this.nowMillis = startMillis
  }

  unsafeCurrentTimeMillis(): number {
    return this.nowMillis
  }

  unsafeCurrentTimeNanos(): bigint {
    return BigInt(Math.floor(this.nowMillis * 1_000_000))
  }

  readonly currentTimeMillis: Effect.Effect<number> = Effect.sync(() => this.nowMillis)

  readonly currentTimeNanos: Effect.Effect<bigint> = Effect.sync(() => this.unsafeCurrentTimeNanos())

  sleep(duration: Duration.Duration): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      const millis = Duration.toMillis(duration)
      if (!Number.isFinite(millis)) return // sleeps forever: nothing to schedule
      const timer: Timer = { fire: () => resume(Effect.void), live: true }
      this.timers.push(this.nowMillis + Math.max(0, millis), timer)
      this.live++
      return Effect.sync(() => {
        if (!timer.live) return
        timer.live = false
        this.live--
      })
    })
  }

  /** The instant of the earliest pending sleep, if any. */
  nextAt(): number | undefined {
    for (let top = this.timers.peek(); top !== undefined && !top.event.live; top = this.timers.peek())
      this.timers.pop()
    return this.timers.peekTime()
  }

  /** Pending sleeps (interrupted ones excluded). */
  pending(): number {
    return this.live
  }

  /** Moves the clock to `at` (never backwards) and wakes every sleeper due by then, oldest first. */
  fireUntil(at: number): number {
    if (at > this.nowMillis) this.nowMillis = at
    let fired = 0
    for (;;) {
      const next = this.nextAt()
      if (next === undefined || next > this.nowMillis) return fired
      const t = this.timers.pop()!.event
      t.live = false
      this.live--
      t.fire()
      fired++
    }
  }
}

/** A `Scheduler` that only queues tasks; `VirtualTime` runs them, first in, first out. */
export class HeldScheduler implements Scheduler.Scheduler {
  private tasks: Array<() => void> = []
  /** Tasks run since the start (a cheap progress counter for traces). */
  ran = 0

  scheduleTask(task: () => void): void {
    this.tasks.push(task)
  }

  shouldYield(fiber: Fiber.RuntimeFiber<unknown, unknown>): number | false {
    return Scheduler.defaultShouldYield(fiber)
  }

  get size(): number {
    return this.tasks.length
  }

  /** Runs queued tasks (and the ones they queue) until none is left or `limit` ran. */
  runAll(limit: number): number {
    let n = 0
    while (this.tasks.length > 0 && n < limit) {
      const batch = this.tasks
      this.tasks = []
      let i = 0
      for (; i < batch.length && n < limit; i++, n++) batch[i]!()
      if (i < batch.length) this.tasks = batch.slice(i).concat(this.tasks)
    }
    this.ran += n
    return n
  }
}

/** Thrown by the driver when fibers never block (an endless loop that keeps yielding). */
export class Livelock extends Error {
  constructor(atMillis: number, tasks: number) {
    super(`fibers kept running at t=${atMillis} ms: ${tasks} tasks without blocking`)
    this.name = "Livelock"
  }
}

/** Tasks one settle may run before it reports a livelock. */
const SETTLE_LIMIT = 50_000_000

const nextMacrotask = () => new Promise<void>((resolve) => setImmediate(resolve))

/** The clock, the scheduler and the driver of one simulation. */
export class VirtualTime {
  readonly clock: VirtualClock
  readonly scheduler = new HeldScheduler()
  private readonly random = Random.make(0x5eed)
  private driving = false

  constructor(startMillis = 0) {
    this.clock = new VirtualClock(startMillis)
  }

  now(): number {
    return this.clock.unsafeCurrentTimeMillis()
  }

  /**
   * Starts `effect` in a new fiber on virtual time (clock and scheduler), from `runtime`'s
   * context. It starts at the next settle; nothing of it runs on the caller's fiber.
   */
  fork<A, E>(runtime: Runtime.Runtime<never>, effect: Effect.Effect<A, E>): Fiber.RuntimeFiber<A, E> {
    // One seeded `Random` for every fiber (retry jitter, src/client/Retry.ts): a seed replays.
    return RuntimeModule.runFork(runtime)(
      Effect.withRandom(Effect.withClock(effect, this.clock), this.random),
      {
        scheduler: this.scheduler,
        immediate: false,
      },
    )
  }

  /** Runs every fiber until all are blocked on a timer or on each other. */
  async settle(): Promise<void> {
    let ran = 0
    for (;;) {
      ran += this.scheduler.runAll(SETTLE_LIMIT - ran)
      if (ran >= SETTLE_LIMIT) throw new Livelock(this.now(), ran)
      await nextMacrotask()
      if (this.scheduler.size === 0) return
    }
  }

  /**
   * Moves time forward by `millis`, waking sleepers in order and settling after each instant;
   * stops early (at that instant) when `done()` holds after a settle. True when `done` held.
   */
  async advance(millis: number, done?: () => boolean): Promise<boolean> {
    if (this.driving) throw new Error("VirtualTime: advance called while already advancing")
    this.driving = true
    try {
      const end = this.now() + Math.max(0, millis)
      await this.settle()
      if (done?.()) return true
      for (;;) {
        const next = this.clock.nextAt()
        if (next === undefined || next > end) break
        this.clock.fireUntil(next)
        await this.settle()
        if (done?.()) return true
      }
      this.clock.fireUntil(end)
      await this.settle()
      return done?.() ?? false
    } finally {
      this.driving = false
    }
  }
}
