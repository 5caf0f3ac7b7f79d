/**
 * Node liveness (docs/decisions/0004): every node pings `<root>.live.<node>` once per
 * `livenessIntervalMs`; a node not heard from (ping or Raft frame) for `livenessTimeoutMs`
 * counts as down, and the engine wakes the quiesced groups it led and those led here with a
 * voter on it. A node heard from again is up.
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

  constructor(
    private readonly bus: BusService,
    /** `<prefix>.<cluster>`. */
    private readonly root: string,
    private readonly self: NodeId,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
  ) {}

  /** `node` was heard from at `now`. */
  heard(node: NodeId, now: number): void {
    this.lastHeard.set(node, now)
    this.down.delete(node)
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
   * went silent past the timeout since the last step to `onDown`.
   */
  step(now: number, onDown: (node: NodeId) => void): Effect.Effect<void> {
    if (now < this.nextPing) return Effect.void
    return Effect.gen(this, function* () {
      this.nextPing = now + this.intervalMs
      yield* this.bus.publish(`${this.root}.live.${this.self}`, EMPTY).pipe(Effect.ignore)
      for (const [node, t] of this.lastHeard) {
        if (node !== this.self && !this.down.has(node) && now - t > this.timeoutMs) {
          this.down.add(node)
          yield* Effect.logWarning(`node ${node} silent for ${now - t} ms: waking the groups it led`)
          onDown(node)
        }
      }
    })
  }
}
