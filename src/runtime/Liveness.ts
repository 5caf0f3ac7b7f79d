/**
 * Node liveness (docs/decisions/0004): every node pings `<root>.live.<node>` once per
 * `livenessIntervalMs`; a node not heard from (ping or Raft frame) for `livenessTimeoutMs`
 * counts as down, and the engine wakes the quiesced groups it led and those led here with a
 * voter on it. A node heard from again is up.
 *
 * Whether the silence is the other node's or ours (docs/decisions/0079): a node that hears its
 * own pings knows the bus reaches it, and only then are the groups a silent node led failed over
 * at once (`onDown`'s `failOver`); without its own pings (our bus link is down) it still wakes
 * them. A node whose own loop stood still (no step for half the timeout, or two ticks if longer: a
 * SIGSTOP, a long stall) heard
 * nothing meanwhile: it starts every node's silence afresh rather than judge them.
 */
import { Effect, type Scope, Stream } from "effect"
import { isNodeId, type NodeId } from "../raft/Ids.js"
import type { BusService } from "../transport/Bus.js"
import { supervise } from "./Supervisor.js"

const EMPTY = new Uint8Array(0)

export class Liveness {
  /** Last time each node was heard from. */
  private readonly lastHeard = new Map<NodeId, number>()
  /** Nodes silent past the timeout now. */
  readonly down = new Set<NodeId>()
  private nextPing = 0
  /** When this node last heard its own ping (undefined: never yet). */
  private selfHeard: number | undefined
  /** When `step` last ran. */
  private lastStep: number | undefined

  constructor(
    private readonly bus: BusService,
    /** `<prefix>.<cluster>`. */
    private readonly root: string,
    private readonly self: NodeId,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    /** A gap between two steps longer than this means the loop stood still. */
    private readonly stallMs: number = timeoutMs / 2,
  ) {}

  /** `node` was heard from at `now`. */
  heard(node: NodeId, now: number): void {
    if (node === this.self) {
      this.selfHeard = now
      return
    }
    this.lastHeard.set(node, now)
    this.down.delete(node)
  }

  /** Whether this node heard its own ping within the timeout: the bus reaches it. */
  private busReachesUs(now: number): boolean {
    return this.selfHeard !== undefined && now - this.selfHeard <= this.timeoutMs
  }

  /** Hears every node's pings for the scope's lifetime (a fiber of the scope). */
  listen(nowMs: () => number): Effect.Effect<void, never, Scope.Scope> {
    return Effect.asVoid(
      Effect.forkScoped(
        Effect.scoped(
          Effect.gen(this, function* () {
            const sub = yield* this.bus.subscribe(`${this.root}.live.*`)
            yield* Stream.runForEach(sub.messages, (msg) =>
              Effect.sync(() => {
                const node = Number(msg.subject.slice(msg.subject.lastIndexOf(".") + 1))
                if (isNodeId(node)) this.heard(node, nowMs())
              }),
            )
          }),
        ).pipe((listening) => supervise("liveness", listening)),
      ),
    )
  }

  /**
   * A step of the node's loop at `now`: once per interval, pings and hands every node that
   * went silent past the timeout since the last step to `onDown` (`failOver`: whether this
   * node hears its own pings, so that the silence is the other node's).
   */
  step(now: number, onDown: (node: NodeId, failOver: boolean) => void): Effect.Effect<void> {
    const stalled = this.lastStep !== undefined && now - this.lastStep > this.stallMs
    this.lastStep = now
    if (stalled) {
      // We heard nothing while we stood still: every silence starts again from now.
      for (const node of this.lastHeard.keys()) this.lastHeard.set(node, now)
      this.selfHeard = undefined
    }
    if (now < this.nextPing) return Effect.void
    return Effect.gen(this, function* () {
      this.nextPing = now + this.intervalMs
      yield* this.bus.publish(`${this.root}.live.${this.self}`, EMPTY).pipe(Effect.ignore)
      const failOver = this.busReachesUs(now)
      for (const [node, t] of this.lastHeard) {
        if (!this.down.has(node) && now - t > this.timeoutMs) {
          this.down.add(node)
          yield* Effect.logWarning(
            `node ${node} silent for ${now - t} ms: waking the groups it led${failOver ? " (failing over)" : " (this node does not hear its own pings: no failover)"}`,
          )
          onDown(node, failOver)
        }
      }
    })
  }
}
